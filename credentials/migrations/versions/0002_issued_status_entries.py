"""Which status entries each issued credential holds, so its status can be changed by credential id (VC API).

Revision ID: credentials_0002
Revises: credentials_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "credentials_0002"
down_revision = "credentials_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials_issued_entries",
        sa.Column("credential_id", sa.String(500), primary_key=True),
        sa.Column("list_url", sa.String(500), primary_key=True),
        sa.Column("status_index", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_url", "status_index"],
            ["credentials_status_entries.list_url", "credentials_status_entries.status_index"],
        ),
    )


def downgrade() -> None:
    op.drop_table("credentials_issued_entries")
