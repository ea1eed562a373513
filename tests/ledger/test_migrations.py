"""The Alembic chain creates exactly the tables `ledger.store.schema` declares (no drift between them)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ledger.store import Ledger
from ledger.store.database import MIGRATIONS, VERSION_TABLE
from ledger.store.schema import metadata


def test_the_migrated_schema_matches_the_declared_tables(db_url: str) -> None:
    with Ledger.open(db_url) as ledger, ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": "alembic_version_ledger"})
        diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert diff == []


def test_the_chain_keeps_the_identifiers_existing_databases_carry(db_url: str) -> None:
    """Databases migrated before storage moved to `ledger.store` record revision `0001_ledger_initial` in
    `alembic_version_ledger`; the chain at its new path starts from that revision, so they upgrade in place."""
    script = ScriptDirectory(str(MIGRATIONS))
    assert VERSION_TABLE == "alembic_version_ledger"
    assert script.get_bases() == ["0001_ledger_initial"]
    with Ledger.open(db_url) as ledger, ledger.engine.connect() as conn:
        recorded = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    assert recorded == list(script.get_heads())
