"""join the gateway chain's three heads into one, so `alembic heads` names a single revision

Revision ID: 0005_one_head
Revises: 0004_erasure_leases, 0002_proxy, 0002_zk_anchors
Create Date: 2026-11-23 08:30:00

The three branches touch disjoint tables, so joining them changes no schema. Their revision ids stay as
they are: deployed databases store them in `alembic_version_gateway`.
"""

revision = '0005_one_head'
down_revision = ('0004_erasure_leases', '0002_proxy', '0002_zk_anchors')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
