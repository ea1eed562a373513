"""rectification requests forwarded to source systems, with per-source status and a lease

Revision ID: 0160_rectification
Revises: 0220_federation
Create Date: 2026-12-07 11:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0160_rectification'
down_revision = '0220_federation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_rectification_requests',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('category', sa.String(length=128), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('ledger_index', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ledger_completion_index', sa.BigInteger(), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_owner', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('request_id', name=op.f('pk_gw_rectification_requests')),
    )
    op.create_index(
        'ix_gw_rectification_requests_customer', 'gw_rectification_requests', ['customer_id', 'created_at']
    )
    op.create_table(
        'gw_rectification_sources',
        sa.Column('request_id', sa.String(length=36), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('field', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('upstream_status', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['request_id'],
            ['gw_rectification_requests.request_id'],
            name=op.f('fk_gw_rectification_sources_request_id_gw_rectification_requests'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('request_id', 'source', name=op.f('pk_gw_rectification_sources')),
    )


def downgrade() -> None:
    op.drop_table('gw_rectification_sources')
    op.drop_index('ix_gw_rectification_requests_customer', table_name='gw_rectification_requests')
    op.drop_table('gw_rectification_requests')
