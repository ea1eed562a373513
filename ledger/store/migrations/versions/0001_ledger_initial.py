"""The ledger's first schema: head, entries, complete-subtree nodes, payloads, checkpoints.

Revision ID: 0001_ledger_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger_initial"
down_revision = None
branch_labels = ("ledger",)
depends_on = None

Index64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("checkpoints", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_payloads",
        sa.Column("idx", Index64, primary_key=True, autoincrement=False),
        sa.Column("subject", sa.String, nullable=True),
        sa.Column("salt", sa.LargeBinary, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_ledger_payloads_subject", "ledger_payloads", ["subject"])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("seq", Index64, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "checkpoints": 0}])


def downgrade() -> None:
    for name in ("ledger_checkpoints", "ledger_payloads", "ledger_nodes", "ledger_entries", "ledger_head"):
        op.drop_table(name)
