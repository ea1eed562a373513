"""The log's origin is stored with it (C2SP tlog-checkpoint: the origin names the log, not where it is served).

A ledger that already published checkpoints keeps the origin its first checkpoint carries, so auditors who
pinned it keep verifying; one that published none is given its origin when the gateway next opens it.
`write_probes` counts readiness probes: each commits a real change to the head row (see `Ledger.probe_write`).

Revision ID: 0175_ledger_origin
Revises: 0001_ledger_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0175_ledger_origin"
down_revision = "0001_ledger_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_head", sa.Column("origin", sa.Text, nullable=True))
    op.add_column("ledger_head", sa.Column("write_probes", sa.BigInteger, nullable=False, server_default="0"))
    conn = op.get_bind()
    note = conn.execute(sa.text("SELECT note FROM ledger_checkpoints ORDER BY seq LIMIT 1")).scalar()
    if note is not None:
        conn.execute(sa.text("UPDATE ledger_head SET origin = :origin"), {"origin": str(note).split("\n", 1)[0]})


def downgrade() -> None:
    with op.batch_alter_table("ledger_head") as batch:
        batch.drop_column("write_probes")
        batch.drop_column("origin")
