"""login attempts per (username, address): a lockout nobody can aim at someone else

Revision ID: 0170_login_attempts
Revises: 0161_export_transfers
Create Date: 2026-12-07 11:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0170_login_attempts'
down_revision = '0161_export_transfers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The old per-username counts are dropped, not carried over: they cannot say from where the failures came,
    # and forgetting them only lifts lockouts that are at most `login_lockout_seconds` old.
    op.drop_table('gw_login_throttle')
    op.create_table(
        'gw_login_attempts',
        sa.Column('username', sa.String(length=200), nullable=False),
        sa.Column('address', sa.String(length=100), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('username', 'address', name=op.f('pk_gw_login_attempts')),
    )


def downgrade() -> None:
    op.drop_table('gw_login_attempts')
    op.create_table(
        'gw_login_throttle',
        sa.Column('username', sa.String(length=200), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_gw_login_throttle')),
    )
