"""custodial answering: the customer's answering mode and the statements their wallet handed over, sealed

Revision ID: 0151_zk_custody
Revises: 0175_idempotency_lease
Create Date: 2026-12-07 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0151_zk_custody'
down_revision = '0175_idempotency_lease'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_zk_custody',
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('rules', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_gw_zk_custody')),
    )
    op.create_table(
        'gw_zk_custody_statements',
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', 'digest', name=op.f('pk_gw_zk_custody_statements')),
    )


def downgrade() -> None:
    op.drop_table('gw_zk_custody_statements')
    op.drop_table('gw_zk_custody')
