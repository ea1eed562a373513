"""Direct transfer of the export to a third party the customer chooses (GDPR Art. 20(2), EU Data Act Art. 5).

The customer grants a registered recipient (an organization of the taxonomy) a one-time right to fetch their
export, in JSON or CSV, before a time limit; the grant is a ledger entry. The recipient's client fetches it with
its own access token: the fetch is a ledger entry too (an access under the `data_portability` purpose, so the
customer sees it in "who used my data"), and it commits only together with the guarded update that marks the
grant used, so a second fetch, or one after the limit, is refused whatever the timing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, insert, select, update
from starlette.concurrency import run_in_threadpool

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.rights.errors import InvalidTransfer, NotFoundError, TransferGone
from gateway.rights.portability import PORTABILITY_PURPOSE, Portability, export
from gateway.rights.rfc3339 import rfc3339
from gateway.store.customer_tables import export_transfers
from ledger import Event
from ledger.store import Ledger

__all__ = [
    "FORMATS",
    "MAX_MINUTES",
    "TRANSFER_FETCHED_EVENT",
    "TRANSFER_GRANTED_EVENT",
    "Transfers",
    "fetch_transfer",
    "grant_transfer",
    "list_transfers",
]

TRANSFER_GRANTED_EVENT = "export.transfer.granted"
TRANSFER_FETCHED_EVENT = "access.transfer"  # an access: it belongs in "who used my data"
FORMATS = ("json", "csv")
MAX_MINUTES = 7 * 24 * 60
Format = Literal["json", "csv"]


@dataclass(frozen=True)
class Transfers:
    """What a transfer uses: the export it hands over, the customers it is made for, its rows and the ledger."""

    portability: Portability
    customers: CustomerStore
    engine: Engine
    ledger: Ledger
    pseudonyms: Pseudonyms


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _view(row: Any) -> dict[str, Any]:
    expired = _aware(row["expires_at"]) <= datetime.now(UTC)
    return {
        "grant_id": row["grant_id"],
        "state": "fetched" if row["fetched_at"] else "expired" if expired else "open",
        "recipient": row["recipient"],
        "format": row["format"],
        "created_at": rfc3339(_aware(row["created_at"])),
        "expires_at": rfc3339(_aware(row["expires_at"])),
        "ledger_index": row["ledger_index"],
        "fetched_at": rfc3339(_aware(row["fetched_at"])) if row["fetched_at"] else None,
        "fetch_ledger_index": row["fetch_ledger_index"],
    }


def grant_transfer(
    transfers: Transfers, customer: CustomerPrincipal, recipient: str, fmt: str, minutes: int
) -> dict[str, Any]:
    """Let `recipient` fetch the customer's export once within `minutes`; recorded in the ledger."""
    taxonomy = transfers.portability.policies.taxonomy
    if recipient not in taxonomy.recipients:
        raise InvalidTransfer(f"{recipient!r} is not a registered recipient.")
    if fmt not in FORMATS:
        raise InvalidTransfer(f"The format must be one of {', '.join(FORMATS)}.")
    if not 1 <= minutes <= MAX_MINUTES:
        raise InvalidTransfer(f"The time limit must be between 1 and {MAX_MINUTES} minutes.")
    grant_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)

    def record(conn: Connection, index: int) -> None:
        conn.execute(
            insert(export_transfers).values(
                grant_id=grant_id,
                customer_id=customer.customer_id,
                recipient=recipient,
                format=fmt,
                created_at=now,
                expires_at=expires,
                ledger_index=index,
            )
        )

    transfers.ledger.append(
        Event(
            type=TRANSFER_GRANTED_EVENT,
            actor=customer.actor,
            subject=transfers.pseudonyms(customer.customer_id),
            payload={"grant_id": grant_id, "recipient": recipient, "format": fmt, "expires_at": rfc3339(expires)},
            time=now,
        ),
        effects=record,
    )
    return next(t for t in list_transfers(transfers, customer) if t["grant_id"] == grant_id)


def list_transfers(transfers: Transfers, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    with transfers.engine.connect() as conn:
        rows = (
            conn.execute(
                select(export_transfers)
                .where(export_transfers.c.customer_id == customer.customer_id)
                .order_by(export_transfers.c.created_at.desc())
            )
            .mappings()
            .all()
        )
    return [_view(row) for row in rows]


def _open_grant(transfers: Transfers, client: ClientPrincipal, grant_id: str) -> tuple[CustomerPrincipal, Any]:
    """The grant's customer and row, if this client's organization may still fetch it."""
    with transfers.engine.connect() as conn:
        row = conn.execute(select(export_transfers).where(export_transfers.c.grant_id == grant_id)).mappings().first()
    if row is None or row["recipient"] != client.organization:
        raise NotFoundError("transfer")  # another organization's grant is as absent as a made-up one
    if row["fetched_at"] is not None:
        raise TransferGone("This transfer was fetched already; the customer can grant a new one.")
    if _aware(row["expires_at"]) <= datetime.now(UTC):
        raise TransferGone("This transfer expired; the customer can grant a new one.")
    customer = transfers.customers.get(row["customer_id"])
    if customer is None:
        raise NotFoundError("transfer")
    return customer, row


def _take(
    transfers: Transfers, client: ClientPrincipal, customer: CustomerPrincipal, row: Any, released: list[str]
) -> int:
    """Mark the grant used, with its ledger entry, in one transaction: the guarded update lets one fetch through,
    and only before the time limit."""
    now = datetime.now(UTC)

    def take(conn: Connection, index: int) -> None:
        taken = conn.execute(
            update(export_transfers)
            .where(
                and_(
                    export_transfers.c.grant_id == row["grant_id"],
                    export_transfers.c.fetched_at.is_(None),
                    export_transfers.c.expires_at > now,
                )
            )
            .values(fetched_at=now, fetched_by=client.client_id, fetch_ledger_index=index)
        )
        if taken.rowcount != 1:
            raise TransferGone("This transfer was fetched already or expired; the customer can grant a new one.")

    return transfers.ledger.append(
        Event(
            type=TRANSFER_FETCHED_EVENT,
            actor=client.actor,
            subject=transfers.pseudonyms(customer.customer_id),
            payload={
                "grant_id": row["grant_id"],
                "recipient": row["recipient"],
                "client": client.client_id,
                "purpose": PORTABILITY_PURPOSE,
                "format": row["format"],
                "released": released,
                "withheld": {},
            },
            time=now,
        ),
        effects=take,
    )


async def fetch_transfer(transfers: Transfers, client: ClientPrincipal, grant_id: str) -> tuple[Format, dict[str, Any]]:
    """The export for the recipient's one fetch and the format it asked for. The export is built
    first (its source reads are ledgered as the customer's export), and handed over only if the grant is then
    taken: two racing fetches may both build it, but only one receives it."""
    customer, row = await run_in_threadpool(_open_grant, transfers, client, grant_id)
    document = await export(transfers.portability, customer)
    released = sorted({c for s in document["sources"].values() for c in s.get("categories", ())})
    await run_in_threadpool(_take, transfers, client, customer, row, released)
    return ("csv" if row["format"] == "csv" else "json"), document
