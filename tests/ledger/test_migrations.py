"""The Alembic chain creates exactly the tables `ledger.schema` declares (no drift between them)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger import Ledger
from ledger.schema import metadata


def test_the_migrated_schema_matches_the_declared_tables(db_url: str) -> None:
    with Ledger.open(db_url) as ledger, ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "alembic_version_ledger"})
        diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert diff == []
