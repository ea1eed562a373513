"""Change events to recipients: webhooks, the outbox, RFC 9421-signed deliveries and recipients' confirmations.

`changes` is the one place a rights or consent change becomes an event (queued in the change's own ledger
transaction); `outbox` delivers at least once, in order per customer, under a lease in the database, from every
gateway process; `signing` signs deliveries and verifies them (for recipients); `webhooks` holds registrations,
delivery status, confirmations (ledgered) and the customer's view.
"""

from gateway.events.changes import (
    CONSENT_EXPIRED,
    CONSENT_WITHDRAWN,
    ERASURE_REQUESTED,
    EVENT_TYPES,
    ChangeEvent,
    consent_effect,
    erasure_change,
    outbox_effect,
    record_change,
)
from gateway.events.outbox import Outbox, drain_once, run_outbox
from gateway.events.signing import EVENT_ID_HEADER, EventSigner, InvalidEvent, verify_event
from gateway.events.webhooks import CONFIRMATION_EVENT, CONFIRMATIONS, InvalidWebhook, UnknownEvent, Webhooks

__all__ = [
    "CONFIRMATIONS",
    "CONFIRMATION_EVENT",
    "CONSENT_EXPIRED",
    "CONSENT_WITHDRAWN",
    "ERASURE_REQUESTED",
    "EVENT_ID_HEADER",
    "EVENT_TYPES",
    "ChangeEvent",
    "EventSigner",
    "InvalidEvent",
    "InvalidWebhook",
    "Outbox",
    "UnknownEvent",
    "Webhooks",
    "consent_effect",
    "drain_once",
    "erasure_change",
    "outbox_effect",
    "record_change",
    "run_outbox",
    "verify_event",
]
