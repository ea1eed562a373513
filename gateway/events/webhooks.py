"""Recipients' webhooks, their delivery status, their confirmations, and the customer's view of it all.

A recipient (an OAuth client) registers where it wants change events and which types; it sees each delivery's
status. Having acted on an event it confirms through the API (`confirm`), which is itself a ledger entry, so the
customer can see — and an auditor prove — which recipient confirmed deleting what, and when.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, and_, func, select, update

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.principals import ClientPrincipal
from gateway.events.changes import EVENT_TYPES
from gateway.events.destinations import literal_private
from gateway.events.signing import ed25519_public_jwk
from gateway.store.federation_tables import change_events, event_deliveries, webhooks
from ledger import Event
from ledger.store import Ledger
from policies import Taxonomy

__all__ = [
    "CONFIRMATIONS",
    "CONFIRMATION_EVENT",
    "MAX_WEBHOOKS_PER_CLIENT",
    "InvalidWebhook",
    "UnknownEvent",
    "Webhooks",
]

CONFIRMATION_EVENT = "recipient.confirmation"
CONFIRMATIONS = ("deleted", "processing_stopped")
MAX_WEBHOOKS_PER_CLIENT = 10


class InvalidWebhook(ValueError):
    """The registration cannot be used; the message says why."""


class UnknownEvent(LookupError):
    """No such event, or none delivered to the caller's organization (one answer for both)."""


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _webhook(row: Any) -> dict[str, Any]:
    return {
        "webhook_id": row["webhook_id"],
        "url": row["url"],
        "event_types": json.loads(row["event_types"]),
        "organization": row["organization"],
        "public_jwk": json.loads(row["public_jwk"]) if row["public_jwk"] else None,
        "created_at": _time(row["created_at"]),
    }


@dataclass(frozen=True)
class Webhooks:
    engine: Engine
    ledger: Ledger
    pseudonyms: Pseudonyms
    taxonomy: Taxonomy
    private_addresses: bool = False  # CONSENTRY_EVENTS_PRIVATE_ADDRESSES (see gateway.events.destinations)

    def register(
        self,
        client: ClientPrincipal,
        url: str,
        event_types: Sequence[str],
        public_jwk: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`public_jwk`: the recipient's Ed25519 key; once given, its confirmations must be signed with it."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or parts.username:
            raise InvalidWebhook("url: an absolute http(s) URL without credentials or fragment")
        if not self.private_addresses and literal_private(parts.hostname):
            raise InvalidWebhook(
                f"url: {parts.hostname} is not a public address (an operator may allow private ones with "
                "CONSENTRY_EVENTS_PRIVATE_ADDRESSES)"
            )
        unknown = sorted(set(event_types) - set(EVENT_TYPES))
        if not event_types or unknown:
            raise InvalidWebhook(f"event_types: one or more of {', '.join(EVENT_TYPES)}")
        try:
            key = ed25519_public_jwk(public_jwk) if public_jwk is not None else None
        except ValueError as exc:
            raise InvalidWebhook(str(exc)) from None
        row = {
            "webhook_id": str(uuid.uuid4()),
            "client_id": client.client_id,
            "organization": client.organization,
            "url": url,
            "event_types": json.dumps(sorted(set(event_types))),
            "public_jwk": json.dumps(key) if key is not None else None,
            "created_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(webhooks)
                .where(and_(webhooks.c.client_id == client.client_id, webhooks.c.disabled_at.is_(None)))
            ).scalar_one()
            if count >= MAX_WEBHOOKS_PER_CLIENT:
                raise InvalidWebhook(f"a client may register at most {MAX_WEBHOOKS_PER_CLIENT} webhooks")
            conn.execute(webhooks.insert().values(**row))
        return _webhook(row)

    def _own(self, conn: Connection, client: ClientPrincipal, webhook_id: str) -> Any:
        row = (
            conn.execute(
                select(webhooks).where(
                    and_(
                        webhooks.c.webhook_id == webhook_id,
                        webhooks.c.client_id == client.client_id,
                        webhooks.c.disabled_at.is_(None),
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise UnknownEvent("webhook")
        return row

    def registered(self, client: ClientPrincipal) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(webhooks)
                    .where(and_(webhooks.c.client_id == client.client_id, webhooks.c.disabled_at.is_(None)))
                    .order_by(webhooks.c.created_at)
                )
                .mappings()
                .all()
            )
        return [_webhook(row) for row in rows]

    def remove(self, client: ClientPrincipal, webhook_id: str) -> None:
        """Stop deliveries to the webhook; its delivery history stays for the customers it concerns."""
        with self.engine.begin() as conn:
            self._own(conn, client, webhook_id)
            conn.execute(
                update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(disabled_at=datetime.now(UTC))
            )

    def deliveries(self, client: ClientPrincipal, webhook_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            self._own(conn, client, webhook_id)
            rows = (
                conn.execute(
                    select(event_deliveries, change_events.c.event_id, change_events.c.type)
                    .join(change_events, change_events.c.seq == event_deliveries.c.event_seq)
                    .where(event_deliveries.c.webhook_id == webhook_id)
                    .order_by(event_deliveries.c.event_seq.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [
            {
                "event_id": r["event_id"],
                "type": r["type"],
                "status": r["status"],
                "attempts": r["attempts"],
                "last_status": r["last_status"],
                "last_error": r["last_error"],
                "delivered_at": _time(r["delivered_at"]),
                "confirmed_at": _time(r["confirmed_at"]),
                "confirmation": r["confirmation"],
            }
            for r in rows
        ]

    def recipient_keys(self, client: ClientPrincipal, event_id: str) -> dict[str, list[dict[str, str]]]:
        """The keys the client's organization registered on the webhooks this event went to, as a JWK Set: when
        there is one, its confirmation of the event must be signed with one of them."""
        d = event_deliveries.c
        with self.engine.connect() as conn:
            found = conn.execute(
                select(webhooks.c.public_jwk)
                .join(event_deliveries, d.webhook_id == webhooks.c.webhook_id)
                .join(change_events, change_events.c.seq == d.event_seq)
                .where(
                    and_(
                        change_events.c.event_id == event_id,
                        webhooks.c.organization == client.organization,
                        webhooks.c.public_jwk.is_not(None),
                    )
                )
            ).scalars()
            return {"keys": [json.loads(k) for k in found]}

    def confirm(self, client: ClientPrincipal, event_id: str, action: str) -> dict[str, Any]:
        """Record that the client's organization acted on the event (a ledger entry); repeating it changes
        nothing and answers with the first confirmation."""
        if action not in CONFIRMATIONS:
            raise InvalidWebhook(f"action: one of {', '.join(CONFIRMATIONS)}")
        d = event_deliveries.c
        ours = d.webhook_id.in_(select(webhooks.c.webhook_id).where(webhooks.c.organization == client.organization))
        with self.engine.connect() as conn:
            event = conn.execute(select(change_events).where(change_events.c.event_id == event_id)).mappings().first()
            done = None
            if event is not None:
                done = conn.execute(
                    select(d.confirmed_at, d.confirmation, d.confirmation_ledger_index)
                    .where(and_(d.event_seq == event["seq"], ours))
                    .order_by(d.confirmed_at.is_(None))  # a confirmed delivery first
                ).first()
        if event is None or done is None:
            raise UnknownEvent(event_id)
        if done.confirmed_at is not None:
            return self._confirmation(event_id, client, done.confirmation, done.confirmation_ledger_index)
        now = datetime.now(UTC)

        def record(conn: Connection, index: int) -> None:
            conn.execute(
                update(event_deliveries)
                .where(and_(d.event_seq == event["seq"], ours))
                .values(confirmed_at=now, confirmation=action, confirmation_ledger_index=index)
            )

        index = self.ledger.append(
            Event(
                CONFIRMATION_EVENT,
                client.actor,
                self.pseudonyms(event["customer_id"]),
                {
                    "event_id": event_id,
                    "event_type": event["type"],
                    "recipient": client.organization,
                    "client_id": client.client_id,
                    "action": action,
                },
                now,
            ),
            effects=record,
        )
        return self._confirmation(event_id, client, action, index)

    @staticmethod
    def _confirmation(event_id: str, client: ClientPrincipal, action: str, index: int) -> dict[str, Any]:
        return {"event_id": event_id, "recipient": client.organization, "action": action, "ledger_index": index}

    def for_customer(self, customer_id: str, *, lang: str = "en", limit: int = 100) -> list[dict[str, Any]]:
        """The customer's change events, newest first, each with every recipient's delivery and confirmation."""
        with self.engine.connect() as conn:
            events = (
                conn.execute(
                    select(change_events)
                    .where(change_events.c.customer_id == customer_id)
                    .order_by(change_events.c.seq.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
            seqs = [e["seq"] for e in events]
            deliveries = (
                conn.execute(
                    select(event_deliveries, webhooks.c.organization)
                    .join(webhooks, webhooks.c.webhook_id == event_deliveries.c.webhook_id)
                    .where(event_deliveries.c.event_seq.in_(seqs))
                    .order_by(webhooks.c.organization)
                )
                .mappings()
                .all()
                if seqs
                else []
            )
        recipients = self.taxonomy.recipients
        found = []
        for event in events:
            body = json.loads(event["body"])
            found.append(
                {
                    "event_id": event["event_id"],
                    "type": event["type"],
                    "occurred_at": _time(event["created_at"]),
                    "ledger_index": event["ledger_index"],
                    "data": body.get("data", {}),
                    "recipients": [
                        {
                            "organization": d["organization"],
                            "name": recipients[d["organization"]].name.get(lang)
                            if d["organization"] in recipients
                            else d["organization"],
                            "status": d["status"],
                            "delivered_at": _time(d["delivered_at"]),
                            "confirmed_at": _time(d["confirmed_at"]),
                            "confirmation": d["confirmation"],
                            "confirmation_ledger_index": d["confirmation_ledger_index"],
                        }
                        for d in deliveries
                        if d["event_seq"] == event["seq"]
                    ],
                }
            )
        return found
