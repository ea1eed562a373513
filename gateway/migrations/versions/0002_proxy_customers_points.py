"""customer type, source-system subject and value-for-data points

Revision ID: 0002_proxy
Revises: 0001
Create Date: 2026-11-22 00:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0002_proxy"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gw_customers") as batch:
        batch.add_column(sa.Column("customer_type", sa.String(length=64), nullable=False, server_default="standard"))
        batch.add_column(sa.Column("source_subject", sa.String(length=128), nullable=True))
        batch.create_unique_constraint(op.f("uq_gw_customers_source_subject"), ["source_subject"])
    op.create_table(
        "gw_customer_points",
        sa.Column("entry_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_index", name=op.f("pk_gw_customer_points")),
    )
    op.create_index("ix_gw_customer_points_customer", "gw_customer_points", ["customer_id", "entry_index"])


def downgrade() -> None:
    op.drop_index("ix_gw_customer_points_customer", table_name="gw_customer_points")
    op.drop_table("gw_customer_points")
    with op.batch_alter_table("gw_customers") as batch:
        batch.drop_constraint(op.f("uq_gw_customers_source_subject"), type_="unique")
        batch.drop_column("source_subject")
        batch.drop_column("customer_type")
