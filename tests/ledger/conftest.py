"""Ledger fixtures: the same tests run on embedded SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.store import Ledger


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL of each supported kind."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def ledger(db_url: str) -> Iterator[Ledger]:
    opened = Ledger.open(db_url)
    try:
        yield opened
    finally:
        opened.close()
