"""Ledger writers of several processes on one SQLite file queue on a lock file, not on SQLite's sleeping retries."""

from __future__ import annotations

import fcntl
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from ledger import Event
from ledger.store import Ledger
from ledger.store.database import _writer_lock_path


def lock_file(sqlite_url: str) -> Path:
    return Path(sqlite_url.removeprefix("sqlite:///") + "-ledger-writer.lock")


def test_an_append_waits_for_the_writer_holding_the_queue_and_goes_on_when_it_is_released(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="a"))
        path = lock_file(sqlite_url)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        fd = os.open(path, os.O_RDWR)  # another process's writer, as far as flock is concerned
        fcntl.flock(fd, fcntl.LOCK_EX)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(ledger.append, Event(type="test.second", actor="a"))
            try:
                with pytest.raises(TimeoutError):
                    pending.result(timeout=0.5)  # it cannot commit while the queue is held
                assert ledger.size() == 1
            finally:
                os.close(fd)
            assert pending.result(timeout=60) == 1
        assert ledger.size() == 2


def test_a_writer_that_died_holding_the_queue_leaves_it_free(sqlite_url: str) -> None:
    """flock belongs to the open file: a killed process releases it with its descriptors."""
    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="a"))
        pid = os.fork()
        if pid == 0:
            fd = os.open(lock_file(sqlite_url), os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os._exit(0)  # dies holding it, without unlocking
        os.waitpid(pid, 0)
        assert ledger.append(Event(type="test.second", actor="a")) == 1


@pytest.mark.parametrize("kind", ["file", "memory", "postgresql"])
def test_only_an_embedded_sqlite_file_is_queued_on_a_lock_file(
    kind: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    url = {"file": sqlite_url, "memory": "sqlite://"}.get(kind) or str(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            path = _writer_lock_path(conn)
    finally:
        engine.dispose()
    assert path == (lock_file(sqlite_url) if kind == "file" else None)
