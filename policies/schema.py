"""The policies package's own tables (its own MetaData and Alembic chain; version table alembic_version_policies).

Times are integer microseconds since the Unix epoch (UTC): exact, comparable in SQL, the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Micros = sa.BigInteger
LedgerIndex = sa.BigInteger
HEAD_ID = 1

head = sa.Table(
    "policies_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("matrix_version", sa.BigInteger, nullable=False),
)

matrix_versions = sa.Table(
    "policies_matrix_versions",
    metadata,
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("taxonomy_digest", sa.Text, nullable=False),
    sa.Column("diff", sa.Text, nullable=False),
    sa.Column("ledger_index", LedgerIndex, nullable=False),
    # The version's `questions:` section as JSON (policies.questions); NULL before it existed: nothing askable.
    sa.Column("questions", sa.Text, nullable=True),
)

matrix_rules = sa.Table(
    "policies_matrix_rules",
    metadata,
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("effect", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("customer_type", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    # Only on allow rules for aggregates: the epsilon a recipient organization may spend per period.
    sa.Column("budget_epsilon", sa.Float, nullable=True),
    sa.Column("budget_period", sa.Text, nullable=True),
)

consent_records = sa.Table(
    "policies_consent_records",
    metadata,
    sa.Column("record_id", sa.Text, primary_key=True),
    sa.Column("subject_id", sa.Text, nullable=False, index=True),
    sa.Column("controller", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("purposes", sa.Text, nullable=False),
    sa.Column("categories", sa.Text, nullable=False),
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("jurisdiction", sa.Text, nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("notice", sa.Text, nullable=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("given_by", sa.Text, nullable=False),
    sa.Column("separate", sa.Boolean, nullable=False),
    sa.Column("cross_border", sa.Boolean, nullable=False),
    sa.Column("purpose_revisions", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("valid_from", Micros, nullable=False),
    sa.Column("valid_until", Micros, nullable=True),
    sa.Column("event_time", Micros, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("ledger_index", LedgerIndex, nullable=False),
    # JSON list of [customer type, category, purpose, recipient, mode]: the agreement's cells the consent covers.
    sa.Column("cells", sa.Text, nullable=True),
)

# One row per (subject, purpose) a record names: the decision's lookup is a single index range scan.
consent_scope = sa.Table(
    "policies_consent_scope",
    metadata,
    sa.Column("subject_id", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, primary_key=True),
    sa.Column("record_id", sa.Text, sa.ForeignKey("policies_consent_records.record_id"), primary_key=True),
)

consent_events = sa.Table(
    "policies_consent_events",
    metadata,
    sa.Column("record_id", sa.Text, sa.ForeignKey("policies_consent_records.record_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("time", Micros, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("ledger_index", LedgerIndex, nullable=False, unique=True),
)
