"""customer rights: consent receipts, erasure requests

Revision ID: 0002_customer_rights
Revises: 0001
Create Date: 2026-11-21 23:58:05.671863
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_customer_rights'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gw_consent_receipts',
    sa.Column('receipt_id', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.Column('status_list_url', sa.String(length=500), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('credential', sa.Text(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_ledger_index', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('receipt_id', name=op.f('pk_gw_consent_receipts'))
    )
    op.create_index('ix_gw_consent_receipts_customer', 'gw_consent_receipts', ['customer_id', 'issued_at'], unique=False)
    op.create_index('ix_gw_consent_receipts_record', 'gw_consent_receipts', ['record_id'], unique=False)
    op.create_table('gw_erasure_requests',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ledger_erasure_index', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_gw_erasure_requests'))
    )
    op.create_index('ix_gw_erasure_requests_customer', 'gw_erasure_requests', ['customer_id', 'created_at'], unique=False)
    op.create_table('gw_erasure_sources',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('upstream_status', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['gw_erasure_requests.request_id'], name=op.f('fk_gw_erasure_sources_request_id_gw_erasure_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'source', name=op.f('pk_gw_erasure_sources'))
    )


def downgrade() -> None:
    op.drop_table('gw_erasure_sources')
    op.drop_index('ix_gw_erasure_requests_customer', table_name='gw_erasure_requests')
    op.drop_table('gw_erasure_requests')
    op.drop_index('ix_gw_consent_receipts_record', table_name='gw_consent_receipts')
    op.drop_index('ix_gw_consent_receipts_customer', table_name='gw_consent_receipts')
    op.drop_table('gw_consent_receipts')
