"""The one place where a change to a customer's rights or consents becomes a change event for recipients.

GDPR Art. 17(2) and 19 require telling the recipients who hold a customer's data when the customer withdraws,
restricts, rectifies or erases; PIPL Art. 47 requires deletion once consent is withdrawn. Each change the gateway
records (a consent withdrawn or expired, a refusal — objection, restriction, opt-out of sale — turned on, an
erasure or a rectification requested) passes through here: `outbox_effect` writes the
event and one delivery per interested webhook in the very transaction that appends the change to the ledger, so
an acknowledged change always has its events, and an event never exists for a change that was not recorded.

Who is told: the webhooks of the organizations the change concerns — those a consent record names (`org:`,
`role:` through the taxonomy, or `any`), and for an erasure those named by any of the customer's consent
records — and only for the event types each webhook asked for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.store.federation_tables import change_events, event_deliveries, identity_links, webhooks
from gateway.store.tables import customers
from policies import ConsentRecord, Taxonomy

__all__ = [
    "CONSENT_EXPIRED",
    "CONSENT_WITHDRAWN",
    "ERASURE_REQUESTED",
    "EVENT_TYPES",
    "PROCESSING_RESTRICTED",
    "RECTIFICATION_REQUESTED",
    "ChangeEvent",
    "consent_change",
    "consent_effect",
    "erasure_change",
    "outbox_effect",
    "record_change",
    "rectification_change",
]

CONSENT_WITHDRAWN = "consent.withdrawn"
CONSENT_EXPIRED = "consent.expired"
ERASURE_REQUESTED = "erasure.requested"
RECTIFICATION_REQUESTED = "rectification.requested"
PROCESSING_RESTRICTED = "processing.restricted"
# Every event type a webhook may subscribe to; each is produced below and nowhere else.
EVENT_TYPES = (CONSENT_WITHDRAWN, CONSENT_EXPIRED, ERASURE_REQUESTED, RECTIFICATION_REQUESTED, PROCESSING_RESTRICTED)
# What a recipient is asked to do about each, in the event itself.
_REQUIRED_ACTION = {
    CONSENT_WITHDRAWN: "stop_processing_and_delete",
    CONSENT_EXPIRED: "stop_processing_and_delete",
    ERASURE_REQUESTED: "delete",
    RECTIFICATION_REQUESTED: "read_again",
    PROCESSING_RESTRICTED: "restrict_processing",
}


@dataclass(frozen=True)
class ChangeEvent:
    """A change to tell recipients about: its type, whose it is, the organizations concerned and the details."""

    type: str
    customer_id: str
    organizations: frozenset[str]
    data: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def organizations(taxonomy: Taxonomy, recipients: Iterable[str]) -> frozenset[str]:
    """The taxonomy's recipient organizations a consent's recipient expressions cover."""
    named = set(recipients)
    if "any" in named:
        return frozenset(taxonomy.recipients)
    return frozenset(
        rid for rid, r in taxonomy.recipients.items() if f"org:{rid}" in named or f"role:{r.role}" in named
    )


def consent_change(taxonomy: Taxonomy, event_type: str, record: ConsentRecord) -> ChangeEvent:
    """A consent that ended (withdrawn or expired): its recipients must stop, and delete what they hold. Or an
    objection or opt-out that took effect (a restriction, `data.kind` says which): they must stop that use."""
    return ChangeEvent(
        type=event_type,
        customer_id=record.subject_id,
        organizations=organizations(taxonomy, record.recipients),
        data={
            "record_id": record.record_id,
            "kind": record.kind.value,
            "status": record.status.value,
            "purposes": list(record.purposes),
            "categories": list(record.categories),
        },
    )


def erasure_change(
    taxonomy: Taxonomy, customer_id: str, request_id: str, records: Sequence[ConsentRecord]
) -> ChangeEvent:
    """An erasure request: everyone any of the customer's consents ever named must delete what they hold."""
    named = [recipient for record in records for recipient in record.recipients]
    return ChangeEvent(
        type=ERASURE_REQUESTED,
        customer_id=customer_id,
        organizations=organizations(taxonomy, named),
        data={"request_id": request_id},
    )


def rectification_change(
    taxonomy: Taxonomy, customer_id: str, request_id: str, category: str, records: Sequence[ConsentRecord]
) -> ChangeEvent:
    """A correction (GDPR Art. 16, 19): who may hold the wrong value is told which category changed, never the
    value, and reads it again through the gateway."""
    named = [recipient for record in records for recipient in record.recipients]
    return ChangeEvent(
        type=RECTIFICATION_REQUESTED,
        customer_id=customer_id,
        organizations=organizations(taxonomy, named),
        data={"request_id": request_id, "category": category},
    )


def _body(conn: Connection, change: ChangeEvent, ledger_index: int | None) -> dict[str, Any]:
    """The document delivered. It names the customer by the gateway's id and the customer number recipients read
    them by through the proxy (never the sealed identifiers of the unified index), and lists the sources that
    hold data about them."""
    number = conn.execute(
        select(customers.c.source_subject).where(customers.c.customer_id == change.customer_id)
    ).scalar()
    sources = conn.execute(select(identity_links.c.source).where(identity_links.c.customer_id == change.customer_id))
    return {
        "id": change.event_id,
        "type": change.type,
        "occurred_at": change.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "customer": {"id": change.customer_id, "number": number, "sources": sorted(s for (s,) in sources)},
        "required_action": _REQUIRED_ACTION[change.type],
        "ledger_index": ledger_index,
        "data": change.data,
    }


def record_change(conn: Connection, change: ChangeEvent, ledger_index: int | None) -> int:
    """Write the event and a pending delivery per interested webhook on `conn`; returns how many were queued."""
    if change.type not in EVENT_TYPES:
        raise ValueError(f"unknown change event type {change.type!r}")
    rows = conn.execute(
        select(webhooks.c.webhook_id, webhooks.c.organization, webhooks.c.event_types).where(
            webhooks.c.disabled_at.is_(None)
        )
    ).all()
    targets = [
        r.webhook_id
        for r in rows
        if r.organization in change.organizations and change.type in json.loads(r.event_types)
    ]
    inserted = conn.execute(
        insert(change_events).values(
            event_id=change.event_id,
            customer_id=change.customer_id,
            type=change.type,
            body=json.dumps(_body(conn, change, ledger_index), separators=(",", ":"), sort_keys=True),
            ledger_index=ledger_index,
            created_at=change.occurred_at,
        )
    )
    assert inserted.inserted_primary_key is not None
    seq = inserted.inserted_primary_key[0]
    if targets:
        conn.execute(
            insert(event_deliveries),
            [
                {
                    "event_seq": seq,
                    "webhook_id": webhook_id,
                    "customer_id": change.customer_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": change.occurred_at,
                }
                for webhook_id in targets
            ],
        )
    return len(targets)


def outbox_effect(
    change: ChangeEvent, then: Callable[[Connection, int], None] | None = None
) -> Callable[[Connection, int], None]:
    """A ledger append's `effects` hook: run `then` (the change's own writes), then queue the change's events."""

    def effect(conn: Connection, index: int) -> None:
        if then is not None:
            then(conn, index)
        record_change(conn, change, index)

    return effect


def consent_effect(
    taxonomy: Taxonomy,
    event_type: str,
    then: Callable[[Connection, ConsentRecord], None] | None = None,
) -> Callable[[Connection, ConsentRecord], None]:
    """A consent store's `effects` hook: run `then`, then queue the event for the record's new state."""

    def effect(conn: Connection, record: ConsentRecord) -> None:
        if then is not None:
            then(conn, record)
        record_change(conn, consent_change(taxonomy, event_type, record), record.ledger_index)

    return effect
