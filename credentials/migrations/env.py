"""Alembic environment: runs on the engine handed in by `credentials.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

from credentials.migrations import VERSION_TABLE
from credentials.status_store import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
