"""guardians: a guardian account linked to a minor, who gives and withdraws consent on the minor's behalf

Revision ID: 0145_guardians
Revises: 0210_analytics
Create Date: 2026-12-07 11:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0145_guardians'
down_revision = '0210_analytics'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gw_guardians',
        sa.Column('minor_id', sa.String(length=36), nullable=False),
        sa.Column('guardian_id', sa.String(length=36), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ledger_index', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['minor_id'], ['gw_customers.customer_id'], name=op.f('fk_gw_guardians_minor_id_gw_customers'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['guardian_id'], ['gw_customers.customer_id'], name=op.f('fk_gw_guardians_guardian_id_gw_customers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('minor_id', 'guardian_id', name=op.f('pk_gw_guardians')),
    )
    op.create_index('ix_gw_guardians_guardian', 'gw_guardians', ['guardian_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_gw_guardians_guardian', table_name='gw_guardians')
    op.drop_table('gw_guardians')
