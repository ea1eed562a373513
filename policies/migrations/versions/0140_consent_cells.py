"""a consent record keeps the exact cells of the agreement the customer accepted (issue 14)

Revision ID: 0140_consent_cells
Revises: 0210_matrix_budgets

Records written before have no cells (NULL): they are judged as before, by their named scope.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0140_consent_cells"
down_revision = "0210_matrix_budgets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies_consent_records") as batch:
        batch.add_column(sa.Column("cells", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policies_consent_records") as batch:
        batch.drop_column("cells")
