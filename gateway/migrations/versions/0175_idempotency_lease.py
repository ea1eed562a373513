"""Idempotency claims carry a lease: a claim left by a process that died expires and a retry takes it over.

Revision ID: 0175_idempotency_lease
Revises: 0170_login_attempts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0175_idempotency_lease"
down_revision = "0170_login_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims in flight when this runs have no lease: they count as expired, as their process is gone.
    op.add_column("gw_idempotency_keys", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gw_idempotency_keys") as batch:
        batch.drop_column("lease_until")
