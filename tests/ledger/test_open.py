"""Opening: migrations run once per database; anything that is not a ledger is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from ledger import Event, LedgerError
from ledger.store import Ledger, NotALedgerError
from ledger.store.database import MIGRATIONS


def test_open_runs_the_ledger_migrations_with_their_own_version_table(db_url: str) -> None:
    Ledger.open(db_url).close()
    with Ledger.open(db_url) as ledger:  # a second open finds the chain at head and changes nothing
        ledger.append(Event(type="t", actor="a"))
        tables = set(inspect(ledger.engine).get_table_names())
        assert {"alembic_version_ledger", "ledger_head", "ledger_entries", "ledger_nodes"} <= tables
        with ledger.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version_ledger")).scalar_one()
        assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger, ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


@pytest.mark.postgres
def test_postgresql_sessions_commit_durably_whatever_the_server_default(postgres_url: str) -> None:
    relaxed = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with relaxed.connect() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    with relaxed.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    relaxed.dispose()
    with Ledger.open(postgres_url) as ledger, ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_database_without_a_ledger_is_refused_without_create(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    engine.dispose()
    with pytest.raises(NotALedgerError, match="holds no ledger"):
        Ledger.open(db_url, create=False)


def test_a_missing_sqlite_file_is_refused_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotALedgerError, match="no ledger database"):
        Ledger.open(f"sqlite:///{tmp_path / 'absent.db'}", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not SQLite, just text that is long enough to look like a header" * 10)
    for create in (True, False):
        with pytest.raises(NotALedgerError, match=r"not a ledger|cannot open"):
            Ledger.open(f"sqlite:///{path}", create=create)


def test_an_unreachable_server_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(NotALedgerError, match="cannot open a ledger") as caught:
        Ledger.open("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://u:pw@h:notaport/db", "not a database URL"),
    ],
)
def test_urls_that_cannot_hold_a_durable_ledger_are_refused(url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        Ledger.open(url)
