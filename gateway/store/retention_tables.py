"""Tables of the retention enforcer: its lease, and deletion requests sent to source systems with per-source status.

Same MetaData and Alembic chain as `tables.py`.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Table

from gateway.store.tables import metadata

retention_lease = Table(
    "gw_retention_lease",
    metadata,
    # One row per enforcer (name "retention"): the same lease as an erasure request's, so exactly one process
    # runs at a time and a crashed one's lease simply runs out.
    Column("name", String(50), primary_key=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(36), nullable=True),  # every action of a run is conditional on it (fencing)
    Column("last_run_at", DateTime(timezone=True), nullable=True),
)

retention_deletions = Table(
    "gw_retention_deletions",
    metadata,
    Column("deletion_id", String(36), primary_key=True),
    Column("customer_id", String(36), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("categories", JSON, nullable=False),
    Column("ledger_index", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_retention_deletions_customer", "customer_id", "created_at"),
)

retention_deletion_sources = Table(
    "gw_retention_deletion_sources",
    metadata,
    Column(
        "deletion_id",
        String(36),
        ForeignKey("gw_retention_deletions.deletion_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source", String(100), primary_key=True),
    # pending -> deleted | already-absent | failed (after the last attempt)
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("upstream_status", Integer, nullable=True),
    Column("ledger_index", BigInteger, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_gw_retention_deletion_sources_status", "status"),
)
