"""SQLite appends commit without a sync and are answered only after the WAL is flushed outside the write lock:
no answer before the flush, no answer at all after a failed one, and no unsynced connection leaks to others."""

from __future__ import annotations

import errno
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ledger import Event, LedgerError, root_hash
from ledger.store import Ledger, audit
from ledger.store import sequencer as sequencer_module
from tests.ledger.test_sequencer import _appender

FULL = 2  # PRAGMA synchronous


def test_an_append_is_answered_only_after_the_wal_is_flushed(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[os.stat_result] = []
    release = threading.Event()
    real_fdatasync = os.fdatasync

    def held_fdatasync(fd: int) -> None:
        release.wait(30)
        real_fdatasync(fd)
        flushed.append(os.fstat(fd))

    with Ledger.open(sqlite_url) as ledger:
        monkeypatch.setattr(sequencer_module.os, "fdatasync", held_fdatasync)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(ledger.append, Event(type="test.held", actor="a"))
            with pytest.raises(TimeoutError):
                pending.result(timeout=0.5)  # committed, perhaps, but not yet on disk: not answered
            release.set()
            assert pending.result(timeout=60) == 0
        wal = Path(sqlite_url.removeprefix("sqlite:///") + "-wal")
        assert flushed, "the answer came without a flush"
        assert all(os.path.samestat(f, wal.stat()) for f in flushed), "what was flushed is not the WAL"


def test_a_failed_flush_fails_its_appends_and_every_later_one(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After an I/O error a later flush may succeed although the lost pages are gone: fail closed for good."""
    with Ledger.open(sqlite_url) as ledger:
        assert ledger.append(Event(type="test.before", actor="a")) == 0

        def failing_fdatasync(fd: int) -> None:
            raise OSError(errno.EIO, "simulated write-back error")

        monkeypatch.setattr(sequencer_module.os, "fdatasync", failing_fdatasync)
        with pytest.raises(LedgerError, match="could not flush its log"):
            ledger.append(Event(type="test.lost", actor="a"))
        monkeypatch.undo()
        with pytest.raises(LedgerError, match="could not flush its log"):
            ledger.append(Event(type="test.after", actor="a"))


def test_the_writer_connection_that_skips_the_sync_never_serves_other_users(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="a"))
        ledger._sequencer._drop_connection()  # as after a failed batch
        ledger.append(Event(type="test.second", actor="a"))
        held = [ledger.engine.connect() for _ in range(3)]  # whatever the pool holds, and fresh ones
        try:
            for conn in held:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
        finally:
            for conn in held:
                conn.close()
        assert ledger.root() == root_hash(ledger.entries(0, 2))


def test_two_processes_on_one_sqlite_file_never_fork_or_skip(sqlite_url: str) -> None:
    Ledger.open(sqlite_url).close()
    procs = [_appender(sqlite_url, 60, 4, tag) for tag in ("a", "b")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    per_process = [[int(line) for line in out.split()] for out, _ in outputs]
    assert not set(per_process[0]) & set(per_process[1]), "an index was given to both processes"
    assert sorted(per_process[0] + per_process[1]) == list(range(480))
    with Ledger.open(sqlite_url, create=False) as ledger:
        assert ledger.size() == 480
        assert ledger.root() == root_hash(ledger.entries(0, 480))
        assert audit(ledger, []).size == 480
