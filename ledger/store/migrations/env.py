"""Alembic environment: always driven programmatically with a connection already inside a transaction."""

from __future__ import annotations

from alembic import context

from ledger.store.schema import metadata

VERSION_TABLE = "alembic_version_ledger"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
