"""custodial did:key private keys, sealed under the custody key

Revision ID: 0003_custodial_did_keys
Revises: 0002_wallet_login
Create Date: 2026-11-22 01:55:00

Existing customers without a DID get none here: `ensure_customer_did` creates a custodial one when they
next need it (their first consent receipt).
"""

from alembic import op
import sqlalchemy as sa


revision = '0003_custodial_did_keys'
down_revision = '0002_wallet_login'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gw_custodial_did_keys',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('did', sa.Text(), nullable=False),
    sa.Column('sealed_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_ledger_index', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['gw_customers.customer_id'], name=op.f('fk_gw_custodial_did_keys_customer_id_gw_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_gw_custodial_did_keys'))
    )


def downgrade() -> None:
    op.drop_table('gw_custodial_did_keys')
