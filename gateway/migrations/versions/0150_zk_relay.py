"""wallet-answered questions: anchored source statements, relayed questions, question budgets

Revision ID: 0150_zk_relay
Revises: 0160_rectification
Create Date: 2026-12-07 11:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0150_zk_relay'
down_revision = '0160_rectification'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_zk_statements',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=128), nullable=False),
        sa.Column('subject', sa.String(length=256), nullable=False),
        sa.Column('attribute', sa.String(length=128), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=False),
        sa.Column('statement', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_gw_zk_statements')),
        sa.UniqueConstraint('ledger_index', name=op.f('uq_gw_zk_statements_ledger_index')),
        sa.UniqueConstraint('source', 'subject', 'attribute', 'seq', name='uq_gw_zk_statements_series_seq'),
    )
    op.create_index('ix_gw_zk_statements_subject', 'gw_zk_statements', ['subject', 'attribute', 'valid_until'])
    op.create_table(
        'gw_zk_questions',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('purpose', sa.String(length=200), nullable=False),
        sa.Column('template', sa.String(length=256), nullable=False),
        sa.Column('attribute', sa.String(length=128), nullable=False),
        sa.Column('nonce', sa.String(length=256), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('document', sa.Text(), nullable=True),
        sa.Column('ledger_index', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_gw_zk_questions')),
        sa.UniqueConstraint('id', name=op.f('uq_gw_zk_questions_id')),
        sa.UniqueConstraint('client_id', 'nonce', name='uq_gw_zk_questions_client_nonce'),
    )
    op.create_index('ix_gw_zk_questions_customer', 'gw_zk_questions', ['customer_id', 'status', 'seq'])
    op.create_table(
        'gw_zk_question_budget',
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('attribute', sa.String(length=128), nullable=False),
        sa.Column('period', sa.String(length=64), nullable=False),
        sa.Column('slot', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('template', sa.String(length=256), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            'organization', 'subject', 'attribute', 'period', 'slot', name=op.f('pk_gw_zk_question_budget')
        ),
        sa.UniqueConstraint(
            'organization', 'subject', 'attribute', 'period', 'template', name='uq_gw_zk_budget_template'
        ),
    )


def downgrade() -> None:
    op.drop_table('gw_zk_question_budget')
    op.drop_index('ix_gw_zk_questions_customer', table_name='gw_zk_questions')
    op.drop_table('gw_zk_questions')
    op.drop_index('ix_gw_zk_statements_subject', table_name='gw_zk_statements')
    op.drop_table('gw_zk_statements')
