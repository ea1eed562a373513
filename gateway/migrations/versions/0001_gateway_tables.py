"""gateway tables

Revision ID: 0001
Revises:
Create Date: 2026-11-21 23:07:01.246246
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gw_customers',
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('did', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_gw_customers')),
    sa.UniqueConstraint('username', name=op.f('uq_gw_customers_username'))
    )
    op.create_table('gw_idempotency_keys',
    sa.Column('principal', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.LargeBinary(), nullable=True),
    sa.Column('content_type', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('principal', 'key', name=op.f('pk_gw_idempotency_keys'))
    )
    op.create_table('gw_ledger_event_index',
    sa.Column('entry_index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('recipient', sa.String(length=200), nullable=True),
    sa.Column('purpose', sa.String(length=200), nullable=True),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('entry_index', name=op.f('pk_gw_ledger_event_index'))
    )
    op.create_index('ix_gw_ledger_event_index_subject', 'gw_ledger_event_index', ['subject', 'entry_index'], unique=False)
    op.create_index('ix_gw_ledger_event_index_time', 'gw_ledger_event_index', ['time'], unique=False)
    op.create_index('ix_gw_ledger_event_index_type', 'gw_ledger_event_index', ['type', 'entry_index'], unique=False)
    op.create_table('gw_login_throttle',
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_gw_login_throttle'))
    )
    op.create_table('gw_oauth_clients',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organization', sa.String(length=200), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('allowed_purposes', sa.JSON(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('auth_method', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_gw_oauth_clients'))
    )
    op.create_table('gw_revoked_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_gw_revoked_tokens'))
    )
    op.create_table('gw_used_client_assertions',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti', name=op.f('pk_gw_used_client_assertions'))
    )
    op.create_table('gw_customer_sessions',
    sa.Column('session_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['gw_customers.customer_id'], name=op.f('fk_gw_customer_sessions_customer_id_gw_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_hash', name=op.f('pk_gw_customer_sessions'))
    )
    op.create_index('ix_gw_customer_sessions_customer', 'gw_customer_sessions', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_gw_customer_sessions_customer', table_name='gw_customer_sessions')
    op.drop_table('gw_customer_sessions')
    op.drop_table('gw_used_client_assertions')
    op.drop_table('gw_revoked_tokens')
    op.drop_table('gw_oauth_clients')
    op.drop_table('gw_login_throttle')
    op.drop_index('ix_gw_ledger_event_index_type', table_name='gw_ledger_event_index')
    op.drop_index('ix_gw_ledger_event_index_time', table_name='gw_ledger_event_index')
    op.drop_index('ix_gw_ledger_event_index_subject', table_name='gw_ledger_event_index')
    op.drop_table('gw_ledger_event_index')
    op.drop_table('gw_idempotency_keys')
    op.drop_table('gw_customers')
