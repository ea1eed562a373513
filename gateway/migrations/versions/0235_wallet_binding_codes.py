"""one-time wallet binding codes: a signed-in customer lets `consentry wallet bind` bind its DID

Revision ID: 0235_wallet_binding_codes
Revises: 0200_retention
Create Date: 2026-12-07 15:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0235_wallet_binding_codes'
down_revision = '0200_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_wallet_binding_codes',
        sa.Column('code_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_gw_wallet_binding_codes')),
    )


def downgrade() -> None:
    op.drop_table('gw_wallet_binding_codes')
