"""Tables behind the customer's rights: consent receipts they hold, and erasure requests with per-source status.

Kept apart from `tables.py` (same MetaData, same Alembic chain) so the customer API's schema reads in one place.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text

from gateway.store.tables import metadata

consent_receipts = Table(
    "gw_consent_receipts",
    metadata,
    # One row per issued receipt (a VC 2.0 credential); the status-list entry is copied out of the credential so
    # the live status is one row lookup.
    Column("receipt_id", String(100), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Column("status_list_url", String(500), nullable=False),
    Column("status_index", Integer, nullable=False),
    Column("credential", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_ledger_index", BigInteger, nullable=True),
    Index("ix_gw_consent_receipts_customer", "customer_id", "issued_at"),
    Index("ix_gw_consent_receipts_record", "record_id"),
)

erasure_requests = Table(
    "gw_erasure_requests",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("ledger_erasure_index", BigInteger, nullable=True),
    # While set and in the future, one runner owns the request; a crashed runner's lease simply runs out.
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(36), nullable=True),  # every write of a runner is conditional on it (fencing)
    Index("ix_gw_erasure_requests_customer", "customer_id", "created_at"),
)

erasure_sources = Table(
    "gw_erasure_sources",
    metadata,
    Column(
        "request_id",
        String(36),
        ForeignKey("gw_erasure_requests.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source", String(100), primary_key=True),
    # pending -> erased | already-absent | failed (after the last retry)
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("upstream_status", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

rectification_requests = Table(
    "gw_rectification_requests",
    metadata,
    # A customer's correction of one data category (GDPR Art. 16, PIPL Art. 46), forwarded to each source that
    # holds the category. The corrected value is kept only until every source has it, then cleared: the
    # source systems are where the customer's data lives.
    Column("request_id", String(36), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("category", String(128), nullable=False),
    Column("value", Text, nullable=True),
    Column("ledger_index", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("ledger_completion_index", BigInteger, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(36), nullable=True),
    Index("ix_gw_rectification_requests_customer", "customer_id", "created_at"),
)

rectification_sources = Table(
    "gw_rectification_sources",
    metadata,
    Column(
        "request_id",
        String(36),
        ForeignKey("gw_rectification_requests.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source", String(100), primary_key=True),
    Column("field", String(300), nullable=False),  # the JSON Pointer of the corrected field in that source's record
    # pending -> rectified | not-held | failed (after the last retry)
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("upstream_status", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

export_transfers = Table(
    "gw_export_transfers",
    metadata,
    # A customer's one-time grant letting a recipient fetch their export (GDPR Art. 20(2), EU Data Act Art. 5):
    # fetched at most once (the guarded update that sets `fetched_at` commits with the ledger entry), and only
    # before `expires_at`.
    Column("grant_id", String(36), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("format", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=True),
    Column("fetched_by", String(64), nullable=True),
    Column("fetch_ledger_index", BigInteger, nullable=True),
    Index("ix_gw_export_transfers_customer", "customer_id", "created_at"),
)
