"""federation: the unified identity index, webhooks, change events and their deliveries (the outbox)

Revision ID: 0220_federation
Revises: 0145_guardians
Create Date: 2026-12-07 11:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0220_federation'
down_revision = '0145_guardians'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_identity_links',
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('identifier_hash', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('sealed_identifier', sa.LargeBinary(), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('linked_by', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('source', 'identifier_hash', name=op.f('pk_gw_identity_links')),
        sa.UniqueConstraint('customer_id', 'source', name='uq_gw_identity_links_customer_source'),
    )
    op.create_index('ix_gw_identity_links_hash', 'gw_identity_links', ['identifier_hash'])
    op.create_table(
        'gw_webhooks',
        sa.Column('webhook_id', sa.String(length=36), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('event_types', sa.Text(), nullable=False),
        sa.Column('public_jwk', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('webhook_id', name=op.f('pk_gw_webhooks')),
    )
    op.create_index('ix_gw_webhooks_organization', 'gw_webhooks', ['organization'])
    op.create_table(
        'gw_change_events',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_gw_change_events')),
        sa.UniqueConstraint('event_id', name=op.f('uq_gw_change_events_event_id')),
    )
    op.create_index('ix_gw_change_events_customer', 'gw_change_events', ['customer_id', 'seq'])
    op.create_table(
        'gw_event_deliveries',
        sa.Column('event_seq', sa.BigInteger(), nullable=False),
        sa.Column('webhook_id', sa.String(length=36), nullable=False),
        sa.Column('customer_id', sa.String(length=36), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_owner', sa.String(length=36), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmation', sa.String(length=32), nullable=True),
        sa.Column('confirmation_ledger_index', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ['event_seq'], ['gw_change_events.seq'],
            name=op.f('fk_gw_event_deliveries_event_seq_gw_change_events'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['webhook_id'], ['gw_webhooks.webhook_id'],
            name=op.f('fk_gw_event_deliveries_webhook_id_gw_webhooks'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('event_seq', 'webhook_id', name=op.f('pk_gw_event_deliveries')),
    )
    op.create_index('ix_gw_event_deliveries_due', 'gw_event_deliveries', ['status', 'next_attempt_at'])
    op.create_index('ix_gw_event_deliveries_queue', 'gw_event_deliveries', ['webhook_id', 'customer_id', 'event_seq'])


def downgrade() -> None:
    op.drop_index('ix_gw_event_deliveries_queue', table_name='gw_event_deliveries')
    op.drop_index('ix_gw_event_deliveries_due', table_name='gw_event_deliveries')
    op.drop_table('gw_event_deliveries')
    op.drop_index('ix_gw_change_events_customer', table_name='gw_change_events')
    op.drop_table('gw_change_events')
    op.drop_index('ix_gw_webhooks_organization', table_name='gw_webhooks')
    op.drop_table('gw_webhooks')
    op.drop_index('ix_gw_identity_links_hash', table_name='gw_identity_links')
    op.drop_table('gw_identity_links')
