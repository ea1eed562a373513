"""differentially private aggregates: privacy budgets, answered queries and their contributors (pseudonyms)

Revision ID: 0210_analytics
Revises: 0004_erasure_leases
Create Date: 2026-12-07 08:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0210_analytics'
down_revision = '0005_one_head'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_analytics_budgets',
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('purpose', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('attributes', sa.String(length=200), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('epsilon_total', sa.Float(), nullable=False),
        sa.Column('epsilon_spent', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('organization', 'purpose', 'source', 'attributes', 'period', name=op.f('pk_gw_analytics_budgets')),
    )
    op.create_table(
        'gw_analytics_queries',
        sa.Column('query_id', sa.String(length=36), nullable=False),
        sa.Column('organization', sa.String(length=200), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('statistic', sa.String(length=16), nullable=False),
        sa.Column('attribute', sa.String(length=64), nullable=False),
        sa.Column('group_by', sa.String(length=64), nullable=True),
        sa.Column('epsilon', sa.Float(), nullable=False),
        sa.Column('delta', sa.Float(), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('query_id', name=op.f('pk_gw_analytics_queries')),
    )
    op.create_index('ix_gw_analytics_queries_status', 'gw_analytics_queries', ['status', 'created_at'])
    op.create_index('ix_gw_analytics_queries_organization', 'gw_analytics_queries', ['organization', 'created_at'])
    op.create_table(
        'gw_analytics_contributions',
        sa.Column('query_id', sa.String(length=36), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ['query_id'], ['gw_analytics_queries.query_id'],
            name=op.f('fk_gw_analytics_contributions_query_id_gw_analytics_queries'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('query_id', 'subject', name=op.f('pk_gw_analytics_contributions')),
    )
    op.create_index('ix_gw_analytics_contributions_subject', 'gw_analytics_contributions', ['subject', 'query_id'])


def downgrade() -> None:
    op.drop_index('ix_gw_analytics_contributions_subject', table_name='gw_analytics_contributions')
    op.drop_table('gw_analytics_contributions')
    op.drop_index('ix_gw_analytics_queries_organization', table_name='gw_analytics_queries')
    op.drop_index('ix_gw_analytics_queries_status', table_name='gw_analytics_queries')
    op.drop_table('gw_analytics_queries')
    op.drop_table('gw_analytics_budgets')
