"""retention: the enforcer's lease, deletion requests to source systems per source, the index by purpose and age

Revision ID: 0200_retention
Revises: 0151_zk_custody
Create Date: 2026-12-07 11:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0200_retention'
down_revision = '0151_zk_custody'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_retention_lease',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_owner', sa.String(length=36), nullable=True),
        sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_gw_retention_lease')),
    )
    op.create_table(
        'gw_retention_deletions',
        sa.Column('deletion_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('purpose', sa.String(length=200), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('deletion_id', name=op.f('pk_gw_retention_deletions')),
    )
    op.create_index('ix_gw_retention_deletions_customer', 'gw_retention_deletions', ['customer_id', 'created_at'])
    op.create_table(
        'gw_retention_deletion_sources',
        sa.Column('deletion_id', sa.String(length=36), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('upstream_status', sa.Integer(), nullable=True),
        sa.Column('ledger_index', sa.BigInteger(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['deletion_id'],
            ['gw_retention_deletions.deletion_id'],
            name=op.f('fk_gw_retention_deletion_sources_deletion_id_gw_retention_deletions'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('deletion_id', 'source', name=op.f('pk_gw_retention_deletion_sources')),
    )
    op.create_index('ix_gw_retention_deletion_sources_status', 'gw_retention_deletion_sources', ['status'])
    op.create_index(
        'ix_gw_ledger_event_index_purpose', 'gw_ledger_event_index', ['purpose', 'type', 'time']
    )


def downgrade() -> None:
    op.drop_index('ix_gw_ledger_event_index_purpose', table_name='gw_ledger_event_index')
    op.drop_index('ix_gw_retention_deletion_sources_status', table_name='gw_retention_deletion_sources')
    op.drop_table('gw_retention_deletion_sources')
    op.drop_index('ix_gw_retention_deletions_customer', table_name='gw_retention_deletions')
    op.drop_table('gw_retention_deletions')
    op.drop_table('gw_retention_lease')
