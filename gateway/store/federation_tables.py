"""Tables behind federation: the unified index of who each source system knows, and the change-event outbox.

The index holds no personal value beyond the identifier a source uses for the customer, and that only sealed
(AES-256-GCM, the row's source as associated data) beside a keyed HMAC of it for look-ups. The outbox keeps every
change event and one delivery row per recipient webhook; deliveries are claimed under a lease, so any gateway
process may drain it and an acknowledged change survives a restart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.store.tables import metadata

# An integer primary key that SQLite turns into its rowid (so it autoincrements there too).
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")

identity_links = Table(
    "gw_identity_links",
    metadata,
    # One row per (source, identifier): which gateway customer a source system's identifier names.
    Column("source", String(100), primary_key=True),
    Column("identifier_hash", String(64), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("sealed_identifier", LargeBinary, nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("linked_by", String(200), nullable=False),
    UniqueConstraint("customer_id", "source", name="uq_gw_identity_links_customer_source"),
    Index("ix_gw_identity_links_hash", "identifier_hash"),
)

webhooks = Table(
    "gw_webhooks",
    metadata,
    Column("webhook_id", String(36), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("organization", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("event_types", Text, nullable=False),  # JSON list
    Column("public_jwk", Text, nullable=True),  # the recipient's key, when it authenticates its confirmations
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Index("ix_gw_webhooks_organization", "organization"),
)

change_events = Table(
    "gw_change_events",
    metadata,
    # `seq` orders events: rows are inserted inside the ledger append's transaction, which serialises writers.
    Column("seq", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("customer_id", String(36), nullable=False),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the JSON document delivered (no personal values beyond identifiers)
    Column("ledger_index", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_change_events_customer", "customer_id", "seq"),
)

event_deliveries = Table(
    "gw_event_deliveries",
    metadata,
    Column("event_seq", BigInteger, ForeignKey("gw_change_events.seq", ondelete="CASCADE"), primary_key=True),
    Column("webhook_id", String(36), ForeignKey("gw_webhooks.webhook_id", ondelete="CASCADE"), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("confirmation", String(32), nullable=True),
    Column("confirmation_ledger_index", BigInteger, nullable=True),
    Index("ix_gw_event_deliveries_due", "status", "next_attempt_at"),
    Index("ix_gw_event_deliveries_queue", "webhook_id", "customer_id", "event_seq"),
)
