"""wallet login challenges, one DID per customer, verified profile attributes

Revision ID: 0002_wallet_login
Revises: 0001
Create Date: 2026-11-22 00:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_wallet_login'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('uq_gw_customers_did', 'gw_customers', ['did'], unique=True)
    op.create_table('gw_did_challenges',
    sa.Column('challenge_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('challenge_hash', name=op.f('pk_gw_did_challenges'))
    )
    op.create_index('ix_gw_did_challenges_expires', 'gw_did_challenges', ['expires_at'], unique=False)
    op.create_table('gw_customer_attributes',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['gw_customers.customer_id'], name=op.f('fk_gw_customer_attributes_customer_id_gw_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_gw_customer_attributes'))
    )


def downgrade() -> None:
    op.drop_table('gw_customer_attributes')
    op.drop_index('ix_gw_did_challenges_expires', table_name='gw_did_challenges')
    op.drop_table('gw_did_challenges')
    op.drop_index('uq_gw_customers_did', table_name='gw_customers')
