"""One sequencer: concurrent appenders never fork, skip or reuse an index; appends arriving together
share one transaction; an acknowledged append survives kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from ledger import Event, EventError, parse_envelope, root_hash
from ledger.store import Ledger, audit

APPENDER = Path(__file__).with_name("appender.py")
ROOT = Path(__file__).resolve().parents[2]


def test_threads_get_contiguous_unique_indices(ledger: Ledger) -> None:
    got: dict[int, str] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        for _ in range(25):
            index = ledger.append(Event(type="test.thread", actor=name))
            with lock:
                assert index not in got, f"index {index} handed out twice"
                got[index] = name

    threads = [threading.Thread(target=work, args=(f"thread-{t}",)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(200))
    assert ledger.size() == 200
    for index, name in got.items():  # each index holds the entry of the thread it was returned to
        assert parse_envelope(ledger.entry(index))["actor"] == name
    assert ledger.root() == root_hash(ledger.entries(0, 200))


def test_asyncio_tasks_are_group_committed(ledger: Ledger) -> None:
    commits: list[None] = []
    event.listen(ledger.engine, "commit", lambda conn: commits.append(None))

    async def main() -> list[int]:
        return await asyncio.gather(*(ledger.append_async(Event(type="test.task", actor=f"t{i}")) for i in range(64)))

    indices = asyncio.run(main())
    assert sorted(indices) == list(range(64))
    assert len(commits) < 64, "appends arriving together must share transactions"
    for i, index in enumerate(indices):
        assert parse_envelope(ledger.entry(index))["actor"] == f"t{i}"


def test_append_many_is_atomic_and_contiguous(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ledger.append(Event(type="test.first", actor="system"))
        assert ledger.append_many([Event(type="test.bulk", actor="system")] * 5) == [1, 2, 3, 4, 5]
        bad = [Event(type="test.bulk", actor="system"), Event(type="", actor="system")]
        with pytest.raises(EventError, match="event 1: event type must be a non-empty string"):
            ledger.append_many(bad)
        assert ledger.size() == 6


def _appender(url: str, count: int, threads: int, tag: str, *flags: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(APPENDER), url, str(count), str(threads), tag, *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.postgres
def test_two_processes_on_one_postgresql_never_fork_or_skip(postgres_url: str) -> None:
    Ledger.open(postgres_url).close()  # migrate once; both processes then open the same ledger
    procs = [_appender(postgres_url, 60, 4, tag) for tag in ("a", "b")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    per_process = [[int(line) for line in out.split()] for out, _ in outputs]
    assert not set(per_process[0]) & set(per_process[1]), "an index was given to both processes"
    assert sorted(per_process[0] + per_process[1]) == list(range(480))
    with Ledger.open(postgres_url, create=False) as ledger:
        assert ledger.size() == 480
        assert ledger.root() == root_hash(ledger.entries(0, 480))
        assert audit(ledger, []).size == 480


@pytest.mark.postgres
def test_two_processes_racing_through_the_one_trip_fallback_never_fork_or_skip(postgres_url: str) -> None:
    """Each process's one-statement batch only lands while the head still has the size it last committed;
    when the other process moved it, the batch must fall back to the locked path, never write a stale index."""
    Ledger.open(postgres_url).close()
    procs = [_appender(postgres_url, 100, 4, tag, "--race") for tag in ("a", "b")]
    for p in procs:
        assert p.stderr is not None
        assert p.stderr.readline().strip() == "ready", p.stderr.read()
    for p in procs:  # both are waiting: they start together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    fallbacks = sum(int(err.split("fallbacks ")[1].split()[0]) for _, err in outputs)
    assert fallbacks > 0, "the race never took the fallback path, so it tested nothing"
    per_process = [[int(line) for line in out.split()] for out, _ in outputs]
    assert sorted(per_process[0] + per_process[1]) == list(range(800)), "an index was skipped or given twice"
    with Ledger.open(postgres_url, create=False) as ledger:
        assert ledger.size() == 800
        entries = ledger.entries(0, 800)
        for tag, indices in zip(("a", "b"), per_process, strict=True):
            assert all(parse_envelope(entries[i])["actor"].startswith(f"{tag}:") for i in indices)
        assert ledger.root() == root_hash(entries)
        assert audit(ledger, []).size == 800  # every stored node and payload re-derives from the entries


@pytest.mark.postgres
def test_a_postgresql_batch_costs_one_round_trip_when_no_other_process_appends(
    postgres_url: str, tmp_path: Path
) -> None:
    """Counted on the wire (libpq's protocol trace): each batch sends exactly one Sync, i.e. the client waits
    for the server once; the locked path waits five times (measured the same way)."""
    with Ledger.open(postgres_url) as ledger:
        for n in range(8):  # the first batch learns the head; later ones let the driver prepare the statement
            ledger.append(Event(type="test.warm", actor="a", payload={"n": n}))
        conn = ledger._sequencer._conn
        assert conn is not None
        pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        trace = tmp_path / "libpq.trace"
        with trace.open("w") as out:
            pgconn.trace(out.fileno())
            indices = [ledger.append(Event(type="test.serial", actor="a", payload={"n": n})) for n in range(5)]
            pgconn.untrace()
        assert indices == [8, 9, 10, 11, 12]
        sent = [line.split("\t")[3] for line in trace.read_text().splitlines() if "\tF\t" in line]
        assert sent.count("Sync") == 5, sent
        assert ledger.batch_counts() == (13, 0)
        assert ledger.root() == root_hash(ledger.entries(0, 13))


def test_kill_9_loses_no_acknowledged_append(db_url: str) -> None:
    Ledger.open(db_url).close()
    proc = _appender(db_url, 0, 4, "crash")
    assert proc.stdout is not None
    acknowledged: list[int] = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= 150:
            break
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    acknowledged += [int(line) for line in rest.split()]
    with Ledger.open(db_url, create=False) as ledger:
        size = ledger.size()
        assert max(acknowledged) < size
        entries = ledger.entries(0, size)
        assert len(entries) == size
        for index in acknowledged:
            assert parse_envelope(entries[index])["type"] == "test.append"
        assert ledger.root() == root_hash(entries)
        assert audit(ledger, []).size == size  # every entry, payload and node re-derives
        ledger.append(Event(type="test.after-crash", actor="system"))
        assert ledger.root() == root_hash(ledger.entries(0, size + 1))


def test_effects_of_async_appends_run_on_the_sequencer_thread_not_the_event_loop(sqlite_url: str) -> None:
    seen: list[tuple[int, bool]] = []

    def effect(conn: object, index: int) -> None:
        seen.append((index, threading.current_thread() is threading.main_thread()))

    async def main() -> int:
        with Ledger.open(sqlite_url) as ledger:
            return await ledger.append_async(Event(type="test.task", actor="a"), effects=effect)

    assert asyncio.run(main()) == 0
    assert seen == [(0, False)]


def test_the_sequencer_keeps_one_connection_between_batches_and_returns_it_on_close(sqlite_url: str) -> None:
    ledger = Ledger.open(sqlite_url)
    checkouts: list[None] = []
    event.listen(ledger.engine.pool, "checkout", lambda *_: checkouts.append(None))
    for n in range(5):
        ledger.append(Event(type="test.serial", actor=f"a{n}"))
    assert len(checkouts) == 1, "each batch must not pay a pool checkout"
    ledger._sequencer.close()
    assert ledger.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    ledger.engine.dispose()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the worker dies loudly
def test_a_writer_that_dies_fails_its_batch_and_a_fresh_one_serves_later_appends(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing may hang on a queue nobody drains: the batch in hand learns the writer failed, the next
    append starts a new writer, and the log stays contiguous."""
    from ledger.store import sequencer

    real_gather = sequencer.Sequencer._gather
    failures = iter([MemoryError("simulated")])

    def gather_once_failing(
        self: sequencer.Sequencer, first: object, taken: list[object]
    ) -> tuple[list[sequencer.Request], bool]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_gather(self, first, taken)

    monkeypatch.setattr(sequencer.Sequencer, "_gather", gather_once_failing)
    with Ledger.open(sqlite_url) as ledger:
        with pytest.raises(Exception, match="the ledger writer failed"):
            ledger.append(Event(type="access", actor="crm"))
        assert ledger.append(Event(type="access", actor="crm")) == 0
        assert ledger.append(Event(type="access", actor="crm")) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the worker dies loudly
def test_a_writer_that_dies_while_the_ledger_closes_fails_every_queued_append(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing starts no new worker, so whatever is still queued must be failed, not left waiting."""
    from ledger.envelope import prepare
    from ledger.store import sequencer

    go = threading.Event()

    def gather_then_die(self: sequencer.Sequencer, first: object, taken: list[object]) -> tuple[list[object], bool]:
        go.wait(10)
        raise MemoryError("simulated")

    monkeypatch.setattr(sequencer.Sequencer, "_gather", gather_then_die)
    ledger = Ledger.open(sqlite_url)
    seq = ledger._sequencer
    first = seq.submit([prepare(Event(type="access", actor="crm"))], None)
    queued = seq.submit([prepare(Event(type="access", actor="crm"))], None)
    closer = threading.Thread(target=ledger.close)
    closer.start()
    while not seq._closed:
        threading.Event().wait(0.01)
    go.set()
    closer.join(10)
    assert not closer.is_alive()
    for future in (first, queued):
        with pytest.raises(Exception, match="the ledger writer failed"):
            future.result(timeout=10)


def test_an_async_append_cancelled_before_it_is_sequenced_is_withdrawn(ledger: Ledger) -> None:
    in_commit, release = threading.Event(), threading.Event()

    def hold(conn: object, index: int) -> None:
        in_commit.set()
        release.wait(30)

    async def main() -> tuple[int, int]:
        first = asyncio.create_task(ledger.append_async(Event(type="test.held", actor="a"), effects=hold))
        await asyncio.to_thread(in_commit.wait, 30)  # the writer is inside the first batch's transaction
        withdrawn = asyncio.create_task(ledger.append_async(Event(type="test.withdrawn", actor="b")))
        await asyncio.sleep(0)
        withdrawn.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await withdrawn
        after = await ledger.append_async(Event(type="test.after", actor="c"))
        return await first, after

    assert asyncio.run(main()) == (0, 1)
    assert [parse_envelope(e)["type"] for e in ledger.entries(0, 5)] == ["test.held", "test.after"]


def test_async_appends_answered_in_one_batch_each_get_their_own_answer(ledger: Ledger) -> None:
    def refuse(conn: object, index: int) -> None:
        raise ValueError("refused by its effect")

    async def main() -> list[int | BaseException]:
        appends = [ledger.append_async(Event(type="test.task", actor=f"t{i}")) for i in range(20)]
        appends.insert(7, ledger.append_async(Event(type="test.refused", actor="r"), effects=refuse))
        return await asyncio.gather(*appends, return_exceptions=True)

    answers = asyncio.run(main())
    assert isinstance(answers[7], ValueError)
    indices = [a for a in answers if isinstance(a, int)]
    assert sorted(indices) == list(range(20))
    for position, answer in enumerate(answers):
        if isinstance(answer, int):
            assert parse_envelope(ledger.entry(answer))["actor"] == f"t{position if position < 7 else position - 1}"


def test_an_event_loops_appends_of_one_turn_reach_the_writer_as_one_queue_item(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One wake of the writer thread per loop turn, not per append: each wake takes the interpreter lock."""
    seq = ledger._sequencer
    sent: list[int] = []
    real_submit = seq.submit_requests

    def counting(requests: list[object]) -> None:
        sent.append(len(requests))
        real_submit(requests)  # type: ignore[arg-type]

    monkeypatch.setattr(seq, "submit_requests", counting)

    async def main() -> list[int]:
        return await asyncio.gather(*(ledger.append_async(Event(type="test.task", actor=f"t{i}")) for i in range(16)))

    indices = asyncio.run(main())
    assert sent == [16]
    assert sorted(indices) == list(range(16))
    for i, index in enumerate(indices):
        assert parse_envelope(ledger.entry(index))["actor"] == f"t{i}"
