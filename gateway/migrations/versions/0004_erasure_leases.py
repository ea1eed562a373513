"""erasure requests carry a lease, so exactly one runner works on a request and a restart resumes it

Revision ID: 0004_erasure_leases
Revises: 0003_custodial_did_keys, 0002_customer_rights
Create Date: 2026-11-22 02:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004_erasure_leases'
down_revision = ('0003_custodial_did_keys', '0002_customer_rights')  # merges: the table is on that branch
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gw_erasure_requests') as batch:
        batch.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('lease_owner', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gw_erasure_requests') as batch:
        batch.drop_column('lease_owner')
        batch.drop_column('lease_until')
