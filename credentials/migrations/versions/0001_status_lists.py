"""Status lists and their entries.

Revision ID: credentials_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "credentials_0001"
down_revision = None
branch_labels = ("credentials",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials_status_lists",
        sa.Column("url", sa.String(500), primary_key=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
    )
    op.create_table(
        "credentials_status_entries",
        sa.Column("list_url", sa.String(500), sa.ForeignKey("credentials_status_lists.url"), primary_key=True),
        sa.Column("status_index", sa.Integer, primary_key=True),
        sa.Column("is_set", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credentials_status_entries")
    op.drop_table("credentials_status_lists")
