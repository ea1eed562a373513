"""A real database (SQLite or PostgreSQL) with the ledger, the policies tables and the demo matrix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policies.runtime import PolicyRuntime, open_policies

PSEUDONYM_KEY = b"policies-tests-pseudonym-key-32b"


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[PolicyRuntime]:
    rt = open_policies(sqlite_url, pseudonym_key=PSEUDONYM_KEY)
    yield rt
    rt.close()


@pytest.fixture
def pg_runtime(postgres_url: str) -> Iterator[PolicyRuntime]:
    rt = open_policies(postgres_url, pseudonym_key=PSEUDONYM_KEY)
    yield rt
    rt.close()
