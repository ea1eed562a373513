"""matrix rules that allow aggregates carry a privacy budget (epsilon per period)

Revision ID: 0210_matrix_budgets
Revises: 0001_policies_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0210_matrix_budgets"
down_revision = "0001_policies_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies_matrix_rules") as batch:
        batch.add_column(sa.Column("budget_epsilon", sa.Float, nullable=True))
        batch.add_column(sa.Column("budget_period", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policies_matrix_rules") as batch:
        batch.drop_column("budget_period")
        batch.drop_column("budget_epsilon")
