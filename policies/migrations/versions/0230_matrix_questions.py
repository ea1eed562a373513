"""a matrix version carries its question templates (issue 15: the questions live in the matrix)

Revision ID: 0230_matrix_questions
Revises: 0140_consent_cells

Versions stored before have no questions (NULL): under them no question template may be asked until a matrix
with a `questions:` section is applied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0230_matrix_questions"
down_revision = "0140_consent_cells"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies_matrix_versions") as batch:
        batch.add_column(sa.Column("questions", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policies_matrix_versions") as batch:
        batch.drop_column("questions")
