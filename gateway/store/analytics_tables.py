"""Tables behind differentially private aggregates: privacy budgets, answered queries and who contributed.

No value read from a source is ever stored: a query row holds what was asked and what it cost, a contribution row
only the query and the contributor's pseudonym (the same keyed HMAC the ledger uses), so "who used my data" can
list the analyses a customer's data went into without anything about the values.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Float, ForeignKey, Index, String, Table

from gateway.store.tables import metadata

analytics_budgets = Table(
    "gw_analytics_budgets",
    metadata,
    # One row per (recipient organization, purpose, source, attribute set, calendar period): spending is one
    # conditional UPDATE of this row inside the ledger append's transaction, so no two processes spend the last ε.
    Column("organization", String(200), primary_key=True),
    Column("purpose", String(200), primary_key=True),
    Column("source", String(100), primary_key=True),
    Column("attributes", String(200), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("epsilon_total", Float, nullable=False),
    Column("epsilon_spent", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

analytics_queries = Table(
    "gw_analytics_queries",
    metadata,
    Column("query_id", String(36), primary_key=True),
    Column("organization", String(200), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("statistic", String(16), nullable=False),
    Column("attribute", String(64), nullable=False),
    Column("group_by", String(64), nullable=True),
    Column("epsilon", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("period", String(16), nullable=False),
    # pending while the cohort is read; released in the transaction of its ledger entry; never shown before
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ledger_index", BigInteger, nullable=True),
    Index("ix_gw_analytics_queries_status", "status", "created_at"),
    Index("ix_gw_analytics_queries_organization", "organization", "created_at"),
)

analytics_contributions = Table(
    "gw_analytics_contributions",
    metadata,
    Column(
        "query_id",
        String(36),
        ForeignKey("gw_analytics_queries.query_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("subject", String(64), primary_key=True),  # pseudonym: HMAC-SHA256 of the customer id, hex
    Index("ix_gw_analytics_contributions_subject", "subject", "query_id"),
)
