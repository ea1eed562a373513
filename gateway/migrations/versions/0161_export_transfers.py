"""one-time export transfers: a customer lets a registered recipient fetch their export once, before it expires

Revision ID: 0161_export_transfers
Revises: 0150_zk_relay
Create Date: 2026-12-07 11:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0161_export_transfers'
down_revision = '0150_zk_relay'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_export_transfers',
        sa.Column('grant_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('recipient', sa.String(length=128), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('fetched_by', sa.String(length=64), nullable=True),
        sa.Column('fetch_ledger_index', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('grant_id', name=op.f('pk_gw_export_transfers')),
    )
    op.create_index('ix_gw_export_transfers_customer', 'gw_export_transfers', ['customer_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_gw_export_transfers_customer', table_name='gw_export_transfers')
    op.drop_table('gw_export_transfers')
