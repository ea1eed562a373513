"""zero-knowledge anchors (sealed openings) and answered verifier nonces

Revision ID: 0002_zk_anchors
Revises: 0001
Create Date: 2026-11-22 00:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002_zk_anchors'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gw_zk_anchors',
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('attribute', sa.String(length=64), nullable=False),
    sa.Column('epoch', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('ledger_index', sa.BigInteger(), nullable=False),
    sa.Column('commitment', sa.String(length=64), nullable=False),
    sa.Column('as_of', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('subject_salt', sa.LargeBinary(length=16), nullable=False),
    sa.Column('sealed_opening', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject', 'attribute', 'epoch', name=op.f('pk_gw_zk_anchors')),
    sa.UniqueConstraint('ledger_index', name=op.f('uq_gw_zk_anchors_ledger_index'))
    )
    op.create_table('gw_zk_nonces',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('nonce_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'nonce_hash', name=op.f('pk_gw_zk_nonces'))
    )
    op.create_index('ix_gw_zk_nonces_expires', 'gw_zk_nonces', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_gw_zk_nonces_expires', table_name='gw_zk_nonces')
    op.drop_table('gw_zk_nonces')
    op.drop_table('gw_zk_anchors')
