"""The gateway's Alembic chain runs on SQLite and PostgreSQL with its own version table, and
`upgrade_all` runs the libraries' `upgrade(engine)` before the gateway's."""

from __future__ import annotations

import sys
import types

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from gateway.store import metadata, upgrade_all
from gateway.store.migrate import alembic_config


def check_schema(engine: Engine) -> None:
    """Every table exists and the version table names every head of the chain (branches merge by `heads`)."""
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    for name, table in metadata.tables.items():
        assert {c.name for c in table.columns} <= {c["name"] for c in inspect(engine).get_columns(name)}
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        assert set(conn.execute(text("SELECT version_num FROM alembic_version_gateway")).scalars()) == heads


def test_sqlite_upgrade_is_idempotent(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert upgrade_all(engine)[-1] == "gateway"
        upgrade_all(engine)
        check_schema(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_upgrade(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        upgrade_all(engine)
        check_schema(engine)
    finally:
        engine.dispose()


def test_the_credentials_chain_runs_with_its_own_version_table(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert "credentials" in upgrade_all(engine)
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"alembic_version_credentials", "alembic_version_gateway"} <= tables


def test_libraries_with_an_upgrade_function_migrate_first_in_dependency_order(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("policies", "credentials"):
        module = types.ModuleType(name)
        module.upgrade = lambda engine, name=name: calls.append(name)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
    engine = create_engine(sqlite_url)
    try:
        assert upgrade_all(engine) == ["policies", "credentials", "gateway"]
    finally:
        engine.dispose()
    assert calls == ["policies", "credentials"]
