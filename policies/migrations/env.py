"""Alembic environment: always driven by `policies.migrate.upgrade` with a connection inside a transaction."""

from __future__ import annotations

from alembic import context

from policies.schema import metadata

VERSION_TABLE = "alembic_version_policies"

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
