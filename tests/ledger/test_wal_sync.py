"""SQLite appends commit without a sync and are answered only after the WAL is flushed outside the write lock:
no answer before the flush, no answer at all after a failed one, and no unsynced connection leaks to others."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import threading
from concurrent.futures import InvalidStateError, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from ledger import Event, LedgerError, parse_envelope, root_hash
from ledger.store import Ledger, audit
from ledger.store import sequencer as sequencer_module
from tests.ledger.test_sequencer import _appender

FULL = 2  # PRAGMA synchronous


@pytest.mark.parametrize("earlier", [0, 1], ids=["first append (the worker commits)", "later (the thread commits)"])
def test_an_append_is_answered_only_after_the_wal_is_flushed(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, earlier: int
) -> None:
    flushed: list[os.stat_result] = []
    release = threading.Event()
    real_fdatasync = os.fdatasync

    def held_fdatasync(fd: int) -> None:
        release.wait(30)
        real_fdatasync(fd)
        flushed.append(os.fstat(fd))

    with Ledger.open(sqlite_url) as ledger:
        for _ in range(earlier):
            ledger.append(Event(type="test.earlier", actor="a"))
        monkeypatch.setattr(sequencer_module.os, "fdatasync", held_fdatasync)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(ledger.append, Event(type="test.held", actor="a"))
            with pytest.raises(TimeoutError):
                pending.result(timeout=0.5)  # committed, perhaps, but not yet on disk: not answered
            release.set()
            assert pending.result(timeout=60) == earlier
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


def _appending_until_closed(
    ledger: Ledger, name: str, acknowledged: dict[int, tuple[str, int]], lock: threading.Lock
) -> None:
    number = 0
    while True:
        try:
            index = ledger.append(Event(type="test.thread", actor=name, payload={"n": number}))
        except LedgerError as exc:
            assert "closed" in str(exc)
            return
        with lock:
            assert index not in acknowledged, f"index {index} handed out twice"
            acknowledged[index] = (name, number)
        number += 1


def test_thread_appenders_committing_for_each_other_keep_every_answer_across_a_close(sqlite_url: str) -> None:
    """Threads commit each other's appends and flush them themselves: closing in the middle refuses what was
    not committed, answers what was, and the log holds exactly the answered entries, each where it was told."""
    ledger = Ledger.open(sqlite_url)
    ledger.append(Event(type="test.first", actor="main"))  # from here on the appending threads commit
    acknowledged: dict[int, tuple[str, int]] = {0: ("main", -1)}
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_appending_until_closed, args=(ledger, f"thread-{t}", acknowledged, lock))
        for t in range(8)
    ]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 400:
        threading.Event().wait(0.01)
    ledger.close()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive(), "an appender was left waiting after the close"
    with Ledger.open(sqlite_url, create=False) as reopened:
        assert reopened.size() == len(acknowledged), "an answered append is missing or an unanswered one was kept"
        for index, (name, number) in acknowledged.items():
            envelope = parse_envelope(reopened.entry(index))
            assert envelope["actor"] == name
            if number >= 0:
                assert reopened.payload(index) == {"n": number}
        assert audit(reopened, []).size == len(acknowledged)


def test_thread_and_event_loop_appenders_share_one_contiguous_log(sqlite_url: str) -> None:
    """The worker commits the loop's appends, threads commit their own: they queue for the same role."""
    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="main"))
        threaded: dict[int, str] = {}
        lock = threading.Lock()

        def work(name: str) -> None:
            for _ in range(60):
                index = ledger.append(Event(type="test.thread", actor=name))
                with lock:
                    threaded[index] = name

        async def loop_appends() -> list[int]:
            indices = []
            for wave in range(20):
                indices += await asyncio.gather(
                    *(ledger.append_async(Event(type="test.task", actor=f"task-{wave}-{i}")) for i in range(6))
                )
            return indices

        threads = [threading.Thread(target=work, args=(f"thread-{t}",)) for t in range(4)]
        for thread in threads:
            thread.start()
        from_loop = asyncio.run(loop_appends())
        for thread in threads:
            thread.join(60)
        assert not set(from_loop) & set(threaded), "an index was given to a task and a thread"
        assert sorted([0, *from_loop, *threaded]) == list(range(1 + 120 + 240))
        for index, name in threaded.items():
            assert parse_envelope(ledger.entry(index))["actor"] == name
        for position, index in enumerate(from_loop):
            assert parse_envelope(ledger.entry(index))["actor"] == f"task-{position // 6}-{position % 6}"
        assert ledger.root() == root_hash(ledger.entries(0, 361))


def test_closing_refuses_every_queued_append_however_many_batches_are_queued(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two appenders queue a whole batch each and find the role taken by the closing ledger: both get an answer."""
    ledger = Ledger.open(sqlite_url)
    ledger.append(Event(type="test.first", actor="main"))
    seq = ledger._sequencer
    go = threading.Event()
    real_lead, real_drop = sequencer_module.Sequencer._lead, sequencer_module.Sequencer._drop_connection

    def lead(self: sequencer_module.Sequencer, *args: object) -> bool:
        if threading.current_thread().name.startswith("big"):
            go.wait(10)
        return real_lead(self, *args)  # type: ignore[arg-type]

    def drop(self: sequencer_module.Sequencer) -> None:
        if threading.current_thread().name == "closer":
            go.set()
            threading.Event().wait(0.3)  # the appenders try the role now, while the closing ledger holds it
        real_drop(self)

    monkeypatch.setattr(sequencer_module.Sequencer, "_lead", lead)
    monkeypatch.setattr(sequencer_module.Sequencer, "_drop_connection", drop)
    answers: dict[str, str] = {}

    def append_batch(name: str) -> None:
        events = [Event(type="test.big", actor=name)] * sequencer_module.MAX_BATCH_ENTRIES
        try:
            answers[name] = f"appended {len(ledger.append_many(events))}"
        except LedgerError as exc:
            answers[name] = str(exc)

    appenders = [threading.Thread(target=append_batch, args=(f"big-{i}",), name=f"big-{i}") for i in range(2)]
    for thread in appenders:
        thread.start()
    while len(seq._waiting) < 2:
        threading.Event().wait(0.01)
    closer = threading.Thread(target=ledger.close, name="closer")
    closer.start()
    closer.join(30)
    assert not closer.is_alive()
    for thread in appenders:
        thread.join(30)
        assert not thread.is_alive(), "an appender queued behind the close was never answered"
    assert answers == {"big-0": "the ledger is closed", "big-1": "the ledger is closed"}


def test_an_interrupted_flush_refuses_its_append_but_leaves_the_ledger_usable(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interruption while the appending thread flushes is not an answer from the disk: that append fails, later
    ones work."""
    real_fdatasync = os.fdatasync
    interrupts = [KeyboardInterrupt()]

    def interrupted_once(fd: int) -> None:
        if interrupts:
            raise interrupts.pop()
        real_fdatasync(fd)

    def append_in_a_thread(ledger: Ledger, event: Event) -> object:
        answer: list[object] = []

        def run() -> None:
            try:
                answer.append(ledger.append(event))
            except BaseException as exc:  # the interruption is what is looked at
                answer.append(exc)

        thread = threading.Thread(target=run)  # the main thread hands its appends to the worker
        thread.start()
        thread.join(30)
        assert not thread.is_alive()
        return answer[0]

    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="a"))
        monkeypatch.setattr(sequencer_module.os, "fdatasync", interrupted_once)
        assert isinstance(append_in_a_thread(ledger, Event(type="test.interrupted", actor="a")), KeyboardInterrupt)
        assert append_in_a_thread(ledger, Event(type="test.after", actor="a")) == 2
        assert ledger.append(Event(type="test.from-main", actor="a")) == 3
        assert audit(ledger, []).size == 4


def test_a_flush_that_begins_after_a_failed_one_never_answers_durable(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All flushes share one descriptor and the kernel reports a write-back error to one of them: a thread that
    committed first but begins its flush after the flush threads' failed must not be told its entry is durable."""
    real_fdatasync = os.fdatasync
    flush_thread_failed = threading.Event()
    leader_committed = threading.Event()
    real_hold, real_finish = sequencer_module.WalSyncer.hold, sequencer_module.WalSyncer.finish

    def hold(self: sequencer_module.WalSyncer) -> None:
        real_hold(self)
        leader_committed.set()

    def finish(self: sequencer_module.WalSyncer, *batch: Any) -> None:
        flush_thread_failed.wait(10)  # preempted between its commit and its flush
        real_finish(self, *batch)

    def fdatasync(fd: int) -> None:
        if threading.current_thread().name == "leader":
            real_fdatasync(fd)  # reported clean: the kernel reported the error to the other flush
            return
        flush_thread_failed.set()
        raise OSError(errno.EIO, "simulated write-back error")

    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="main"))
        monkeypatch.setattr(sequencer_module.WalSyncer, "hold", hold)
        monkeypatch.setattr(sequencer_module.WalSyncer, "finish", finish)
        monkeypatch.setattr(sequencer_module.os, "fdatasync", fdatasync)
        answers: dict[str, object] = {}

        def lead() -> None:
            try:
                answers["thread"] = ledger.append(Event(type="test.thread", actor="leader"))
            except LedgerError as exc:
                answers["thread"] = str(exc)

        leader = threading.Thread(target=lead, name="leader")
        leader.start()
        assert leader_committed.wait(10)

        async def from_the_loop() -> object:
            try:
                return await ledger.append_async(Event(type="test.loop", actor="loop"))
            except LedgerError as exc:
                return str(exc)

        answers["loop"] = asyncio.run(from_the_loop())
        leader.join(30)
        assert not leader.is_alive()
        assert all("could not flush its log" in str(answer) for answer in answers.values()), answers


def test_descriptors_of_replaced_wal_connections_are_not_kept(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every failed commit drops the writer's connection and the next one reopens the WAL: no descriptor piles up."""
    real_append = sequencer_module.append_on_sqlite
    calls = [0]

    def every_other_fails(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] % 2 == 0:
            raise OperationalError("INSERT", (), sqlite3.OperationalError("database is locked"))
        return real_append(*args, **kwargs)

    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="a"))
        monkeypatch.setattr(sequencer_module, "append_on_sqlite", every_other_fails)
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(100):
            with contextlib.suppress(OperationalError):
                ledger.append(Event(type="test.flaky", actor="a"))
        assert len(os.listdir("/proc/self/fd")) <= before + 2


def test_a_thread_appenders_answer_wakes_it_once_with_its_indices_or_its_error() -> None:
    """`append_here` waits on an `Answer`, not a `Future`: it must block until answered, hand back exactly what it
    was answered with, and refuse a second answer as a Future does."""
    answer = sequencer_module.Answer()
    woke: list[list[int]] = []
    waiter = threading.Thread(target=lambda: woke.append(answer.result()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not answer.done()
    assert answer.set_running_or_notify_cancel()
    answer.set_result([7, 8])
    waiter.join(10)
    assert woke == [[7, 8]] and answer.done() and answer.result() == [7, 8]
    assert not answer.set_running_or_notify_cancel()
    with pytest.raises(InvalidStateError):
        answer.set_exception(LedgerError("late"))

    failed = sequencer_module.Answer()
    failed.set_exception(LedgerError("the ledger is closed"))
    with pytest.raises(LedgerError, match="closed"):
        failed.result()
    with pytest.raises(InvalidStateError):
        failed.set_result([1])
