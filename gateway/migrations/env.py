"""Alembic environment of the gateway's chain: runs on the engine handed in by `gateway.store.migrate`."""

from __future__ import annotations

from alembic import context

from gateway.store.migrate import VERSION_TABLE
from gateway.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    context.run_migrations()
