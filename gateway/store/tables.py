"""Tables owned by the gateway. Other packages keep their own MetaData in the same database.

Timestamps are timezone-aware UTC. JSON columns hold small lists (roles, scopes, purposes).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

oauth_clients = Table(
    "gw_oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("organization", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("allowed_purposes", JSON, nullable=False),
    Column("jurisdiction", String(16), nullable=False),
    Column("auth_method", String(32), nullable=False),
    # SHA-256 of a server-generated 256-bit secret: hashing defeats a stolen table, and a secret with
    # that much entropy needs no slow KDF.
    Column("secret_hash", LargeBinary(32), nullable=True),
    Column("jwks", JSON, nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

revoked_tokens = Table(
    "gw_revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)

used_client_assertions = Table(
    "gw_used_client_assertions",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

customers = Table(
    "gw_customers",
    metadata,
    Column("customer_id", String(36), primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("jurisdiction", String(16), nullable=False),
    Column("did", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The policy engine's customer type (taxonomy id): minors and VIPs are decided differently.
    Column("customer_type", String(64), nullable=False, server_default="standard"),
    # The enterprise customer number by which source systems name this customer in their paths.
    Column("source_subject", String(128), nullable=True, unique=True),
    # A DID logs in as one customer only; NULLs (no wallet yet) do not collide.
    Index("uq_gw_customers_did", "did", unique=True),
)

customer_sessions = Table(
    "gw_customer_sessions",
    metadata,
    # SHA-256 of the cookie value: a leaked table does not yield live sessions.
    Column("session_hash", LargeBinary(32), primary_key=True),
    Column("customer_id", String(36), ForeignKey("gw_customers.customer_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_customer_sessions_customer", "customer_id"),
)

login_attempts = Table(
    "gw_login_attempts",
    metadata,
    # Keyed by the submitted username whether or not it exists, so lockout does not reveal accounts, and by
    # the caller's address (`auth.rate_limits.request_address_key`), so nobody can lock out someone else.
    Column("username", String(200), primary_key=True),
    Column("address", String(100), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

idempotency_keys = Table(
    "gw_idempotency_keys",
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("request_hash", LargeBinary(32), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_body", LargeBinary, nullable=True),
    Column("content_type", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Until when the claiming request owns the key; past it, with no response stored, the claimant died.
    Column("lease_until", DateTime(timezone=True), nullable=True),
)

zk_anchors = Table(
    "gw_zk_anchors",
    metadata,
    # One row per commitment anchored in the ledger: (subject pseudonym, attribute, epoch). The opening
    # (value and blinding) is only ever stored sealed with AES-GCM, bound to this row by its AAD.
    Column("subject", String(64), primary_key=True),
    Column("attribute", String(64), primary_key=True),
    Column("epoch", Integer, primary_key=True, autoincrement=False),
    Column("schema_version", Integer, nullable=False),
    Column("ledger_index", BigInteger, nullable=False, unique=True),
    Column("commitment", String(64), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("source", String(100), nullable=False),
    Column("subject_salt", LargeBinary(16), nullable=False),
    Column("sealed_opening", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

zk_nonces = Table(
    "gw_zk_nonces",
    metadata,
    # Verifier nonces already answered, per client, until their context expires: single use even across
    # restarts and processes sharing the database (the primary key is the arbiter).
    Column("client_id", String(64), primary_key=True),
    Column("nonce_hash", LargeBinary(32), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_zk_nonces_expires", "expires_at"),
)

ledger_event_index = Table(
    "gw_ledger_event_index",
    metadata,
    # One row per ledger entry, derived from the leaf and its payload, so auditors can search without
    # a full scan. Rebuildable from the ledger at any time.
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("subject", String(200), nullable=True),
    Column("recipient", String(200), nullable=True),
    Column("purpose", String(200), nullable=True),
    Column("time", DateTime(timezone=True), nullable=False),
    Index("ix_gw_ledger_event_index_subject", "subject", "entry_index"),
    Index("ix_gw_ledger_event_index_type", "type", "entry_index"),
    Index("ix_gw_ledger_event_index_time", "time"),
    # retention: a purpose's entries of some types older than its period
    Index("ix_gw_ledger_event_index_purpose", "purpose", "type", "time"),
)

customer_points = Table(
    "gw_customer_points",
    metadata,
    # Value for data: one row per access that earned points, written in the access entry's ledger
    # transaction, so points exist exactly when the ledger records the use that earned them.
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", String(36), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("points", Integer, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Index("ix_gw_customer_points_customer", "customer_id", "entry_index"),
)

did_challenges = Table(
    "gw_did_challenges",
    metadata,
    # SHA-256 of the challenge: single use is a DELETE that must hit exactly one live row.
    Column("challenge_hash", LargeBinary(32), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_did_challenges_expires", "expires_at"),
)

customer_attributes = Table(
    "gw_customer_attributes",
    metadata,
    # Profile attributes the operator has verified (name, VIN, national id), attested in SD-JWT VCs.
    Column("customer_id", String(36), ForeignKey("gw_customers.customer_id", ondelete="CASCADE"), primary_key=True),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

custodial_did_keys = Table(
    "gw_custodial_did_keys",
    metadata,
    # The private key of a did:key the gateway created for a customer without a wallet, AES-GCM sealed under
    # the custody key (the DID is the associated data). Deleted when the customer takes custody, binds a
    # wallet DID or is erased; `released_at` remembers that the customer took it, so a second take is a 409.
    Column("customer_id", String(36), ForeignKey("gw_customers.customer_id", ondelete="CASCADE"), primary_key=True),
    Column("did", Text, nullable=False),
    Column("sealed_key", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
    Column("released_ledger_index", BigInteger, nullable=True),
)

guardians = Table(
    "gw_guardians",
    metadata,
    # A guardian account that decides for a minor (PIPL Art. 31, GDPR Art. 8, CCPA 1798.120(c)), linked by the
    # administrator; the link is a ledger entry (its index here), so an auditor can see who could decide when.
    Column("minor_id", String(36), ForeignKey("gw_customers.customer_id", ondelete="CASCADE"), primary_key=True),
    Column("guardian_id", String(36), ForeignKey("gw_customers.customer_id", ondelete="CASCADE"), primary_key=True),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Index("ix_gw_guardians_guardian", "guardian_id"),
)
