"""The policies tables: head (matrix version counter), matrix versions and rules, consent records, scope, events.

Revision ID: 0001_policies_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_policies_initial"
down_revision = None
branch_labels = ("policies",)
depends_on = None


def upgrade() -> None:
    head = op.create_table(
        "policies_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("matrix_version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "matrix_version": 0}])
    op.create_table(
        "policies_matrix_versions",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("taxonomy_digest", sa.Text, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "policies_matrix_rules",
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("effect", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("customer_type", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
    )
    op.create_table(
        "policies_consent_records",
        sa.Column("record_id", sa.Text, primary_key=True),
        sa.Column("subject_id", sa.Text, nullable=False),
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
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=True),
        sa.Column("event_time", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_policies_consent_records_subject_id", "policies_consent_records", ["subject_id"])
    op.create_table(
        "policies_consent_scope",
        sa.Column("subject_id", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, primary_key=True),
        sa.Column(
            "record_id", sa.Text, sa.ForeignKey("policies_consent_records.record_id"), primary_key=True
        ),
    )
    op.create_table(
        "policies_consent_events",
        sa.Column(
            "record_id", sa.Text, sa.ForeignKey("policies_consent_records.record_id"), primary_key=True
        ),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("ledger_index", sa.BigInteger, nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in (
        "policies_consent_events",
        "policies_consent_scope",
        "policies_consent_records",
        "policies_matrix_rules",
        "policies_matrix_versions",
        "policies_head",
    ):
        op.drop_table(table)
