"""The one sequencer: group commit of concurrent appends into single transactions.

Appenders (threads, asyncio tasks) hand prepared entries to a queue and wait on a future; one worker
thread per `Ledger` drains everything queued, takes the database write lock, assigns the next
contiguous indices, inserts entries, payloads and tree nodes, commits, and only then resolves the
futures. Indices come from the locked head row, never from a database sequence, so a rollback leaves
no gap and two processes on one database cannot fork the tree. Each entry with `effects` runs them in
a savepoint: if they raise, only that entry is rolled back and it consumes no index.

On SQLite the fsync is taken out of the write lock: the worker's own connection commits with
`synchronous=NORMAL` (the WAL frames are written, not yet flushed) and hands the batch to a syncer thread,
which `fdatasync`s the WAL file and only then answers the batch's appenders. While it waits on the disk
the worker is already writing the next batch, and one fdatasync answers every batch committed before it
began. SQLite syncs the WAL header itself when it restarts the log (its checkpoint sync level), and a
checkpoint syncs the WAL before copying it and the database after, so an answered entry is on disk as
with `synchronous=FULL`; a crash before the fdatasync loses only unanswered batches, and WAL recovery keeps
a prefix of the commits, so never a gap. A failed fdatasync fails every batch it covered and every later
one: after an I/O error the kernel may report a later flush clean although pages were lost.

Threads appending to such a file skip the worker once it has connected (`Sequencer.append_here`): each
hand-over between appender, worker and flush thread is a wake-up and an interpreter-lock hand-over. An
appender that finds no one committing commits everything queued itself, flushes and answers its batch;
its round is numbered as its flush begins and settled in that order, as the flush threads' are.

On PostgreSQL a batch without effects usually costs ONE round trip: the locked path waits for the
server once per statement (SELECT … FOR UPDATE, the INSERTs, UPDATE, COMMIT: five waits on the wire,
each also paying a scheduling delay on a busy host) while the WAL flush itself is ~0.1 ms. The
worker remembers the size and frontier of its last commit and sends the whole batch as one
autocommit statement whose head update only matches while the head still has that size; the inserts
take effect only when it matched. When another writer moved the head, the statement changes nothing
and the batch goes through the locked path.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger.envelope import PreparedEntry
from ledger.errors import LedgerError
from ledger.rfc9162 import leaf_hash
from ledger.store.database import (
    driver_sql,
    flat_keys,
    found_nodes,
    locked_transaction,
    nodes_sql,
    open_writer_lock,
    raw_sqlite_transaction,
    read_nodes,
    run_autocommit,
    sqlite_wal_path,
    writer,
)
from ledger.tree import Frontier, range_nodes

Effects = Callable[[Connection, int], None]
MAX_BATCH_ENTRIES = 5_000
GATHER_GAP_S = 0.0003
GATHER_MAX_S = 0.001
MAX_LEADS = 4  # batches a thread commits before it flushes them; with its own answered it then leaves the rest
SYNC_THREADS = 3  # measured: 1 no gain over main, 2-4 about 2x, 8 less (more flushes than the disk merges)


class Answer:
    """What a thread appender blocked in `Sequencer.append_here` waits on: one lock, released by whoever answers.

    A `Future` wakes its waiter through a condition whose lock the answering thread still holds, so the waiter
    wakes only to block again; with eight appenders that cost a tenth of the SQLite append rate. Nothing else
    awaits these, so they need no callbacks and cannot be cancelled."""

    __slots__ = ("_answered", "_error", "_gate", "_indices")

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()
        self._answered = False  # not `_gate.locked()`: the waiter holds the gate for a moment after waking
        self._indices: list[int] | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._answered

    def set_running_or_notify_cancel(self) -> bool:
        return not self.done()

    def set_result(self, indices: list[int]) -> None:
        self._settle()
        self._indices = indices
        self._gate.release()

    def set_exception(self, error: BaseException) -> None:
        self._settle()
        self._error = error
        self._gate.release()

    def _settle(self) -> None:
        if self._answered:
            raise InvalidStateError("the append was answered already")
        self._answered = True

    def result(self) -> list[int]:
        """Block until answered; the indices, or the error the append failed with."""
        with self._gate:
            pass
        if self._error is not None:
            raise self._error
        assert self._indices is not None
        return self._indices


@dataclass
class Request:
    entries: Sequence[PreparedEntry]
    effects: Effects | None
    future: Future[list[int]] | Answer  # an Answer for a thread appender that waits in `append_here`


_STOP = object()


def load_frontier(conn: Connection, size: int) -> Frontier:
    """Read the right edge of the stored tree (popcount(size) nodes) in one query."""
    keys = range_nodes(0, size)
    found = read_nodes(conn, keys)
    return Frontier(size, [found[k] for k in keys])


INSERT_ENTRY = "INSERT INTO ledger_entries (idx, data) VALUES (?, ?)"
INSERT_PAYLOAD = "INSERT INTO ledger_payloads (idx, subject, salt, payload) VALUES (?, ?, ?, ?)"
INSERT_NODE = "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)"
UPDATE_SIZE = "UPDATE ledger_head SET size = ? WHERE id = 1"


# The head row is the lock: the UPDATE waits for any writer holding it and then re-checks `size` on the
# committed row, so the inserts (gated on its RETURNING row) only ever land at the true head.
# Each column travels as ONE array literal in text (bytes in hex): letting the driver adapt Python lists
# element by element cost more CPU than everything else in an append (see `_int_array`, `_hex_array`).
APPEND_ONE_TRIP = """
WITH moved AS (
    UPDATE ledger_head SET size = %s WHERE id = 1 AND size = %s RETURNING size
), e AS (
    INSERT INTO ledger_entries (idx, data)
    SELECT i, decode(d, 'hex') FROM unnest(%s::bigint[], %s::text[]) AS t(i, d) WHERE EXISTS (SELECT FROM moved)
), p AS (
    INSERT INTO ledger_payloads (idx, subject, salt, payload)
    SELECT i, s, decode(a, 'hex'), decode(b, 'hex')
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS t(i, s, a, b) WHERE EXISTS (SELECT FROM moved)
), n AS (
    INSERT INTO ledger_nodes (level, idx, hash)
    SELECT l, i, decode(h, 'hex')
    FROM unnest(%s::smallint[], %s::bigint[], %s::text[]) AS t(l, i, h) WHERE EXISTS (SELECT FROM moved)
)
SELECT count(*) FROM moved
"""


def _int_array(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _hex_array(values: Sequence[bytes]) -> str:
    """Hex digits need no quoting in an array literal; `decode(…, 'hex')` turns them back into the same bytes."""
    return "{" + ",".join([v.hex() for v in values]) + "}"


def _text_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL array literal: every element double-quoted with `\\` and `"` escaped, so no content (braces,
    commas, blanks, the word NULL) is read as syntax; None is the unquoted NULL."""
    return (
        "{"
        + ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


Rows = list[tuple[Any, ...]]


def _batch_rows(frontier: Frontier, requests: Sequence[Request]) -> tuple[dict[int, list[int]], Rows, Rows, Rows]:
    """The entry, payload and tree-node rows of a batch appended at `frontier.size`, advancing `frontier`; with the
    indices each request was given. Both effect-free paths (PostgreSQL's one trip, SQLite's driver) write these."""
    entry_rows: Rows = []
    payload_rows: Rows = []
    node_rows: Rows = []
    assigned: dict[int, list[int]] = {}
    next_index = frontier.size
    for number, request in enumerate(requests):
        assigned[number] = list(range(next_index, next_index + len(request.entries)))
        for entry in request.entries:
            entry_rows.append((next_index, entry.data))
            if entry.payload_json is not None:
                payload_rows.append((next_index, entry.subject, entry.salt, entry.payload_json))
            node_rows += frontier.append(leaf_hash(entry.data))
            next_index += 1
    return assigned, entry_rows, payload_rows, node_rows


def append_in_one_trip(
    conn: Connection, frontier: Frontier, requests: Sequence[Request]
) -> tuple[dict[int, list[int]], Frontier] | None:
    """Append effect-free requests at `frontier.size` in one autocommit statement, committed on return.

    Returns the indices per request and the advanced frontier, or None (and nothing written) if the head moved."""
    size = frontier.size
    moved = frontier.copy()
    assigned, entry_rows, payload_rows, node_rows = _batch_rows(moved, requests)
    params = (
        size + len(entry_rows),
        size,
        _int_array([row[0] for row in entry_rows]),
        _hex_array([row[1] for row in entry_rows]),
        _int_array([row[0] for row in payload_rows]),
        _text_array([row[1] for row in payload_rows]),
        _hex_array([row[2] for row in payload_rows]),
        _hex_array([row[3] for row in payload_rows]),
        _int_array([row[0] for row in node_rows]),
        _int_array([row[1] for row in node_rows]),
        _hex_array([row[2] for row in node_rows]),
    )
    if not run_autocommit(conn, APPEND_ONE_TRIP, params):
        return None
    return assigned, moved


def append_on_sqlite(
    conn: Connection, cached: Frontier | None, requests: Sequence[Request], lock_fd: int | None = None
) -> tuple[dict[int, list[int]], Frontier]:
    """Append effect-free requests under SQLite's write lock, on the driver connection; committed on return."""
    with raw_sqlite_transaction(conn, lock_fd) as (dbapi, size):
        if cached is not None and cached.size == size:
            frontier = cached.copy()
        else:
            keys = range_nodes(0, size)
            rows = dbapi.execute(nodes_sql(len(keys), "qmark"), flat_keys(keys)).fetchall() if keys else []
            found = found_nodes(rows, keys)
            frontier = Frontier(size, [found[k] for k in keys])
        assigned, entry_rows, payload_rows, node_rows = _batch_rows(frontier, requests)
        dbapi.executemany(INSERT_ENTRY, entry_rows)
        if payload_rows:
            dbapi.executemany(INSERT_PAYLOAD, payload_rows)
        dbapi.executemany(INSERT_NODE, node_rows)
        dbapi.execute(UPDATE_SIZE, (frontier.size,))
    return assigned, frontier


def _insert(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(driver_sql(conn, sql), rows if len(rows) > 1 else rows[0])


def write_batch(conn: Connection, size: int, frontier: Frontier, requests: Sequence[Request]) -> dict[int, list[int]]:
    """Append the requests at `size` inside the caller's locked transaction; return indices per request.

    Requests whose effects raised get the exception set on their future and no entry in the result.
    The frontier is advanced in place; the caller keeps it only once the transaction commits.
    """
    assigned: dict[int, list[int]] = {}
    entry_rows: list[tuple[Any, ...]] = []
    payload_rows: list[tuple[Any, ...]] = []
    node_rows: list[tuple[Any, ...]] = []
    next_index = size
    for number, request in enumerate(requests):
        indices = list(range(next_index, next_index + len(request.entries)))
        mine = [(i, e.data) for i, e in zip(indices, request.entries, strict=True)]
        theirs = [
            (i, e.subject, e.salt, e.payload_json)
            for i, e in zip(indices, request.entries, strict=True)
            if e.payload_json is not None
        ]
        if request.effects is not None:
            try:
                with conn.begin_nested():  # the entry exists before its effects run (they may reference it)
                    _insert(conn, INSERT_ENTRY, mine)
                    _insert(conn, INSERT_PAYLOAD, theirs)
                    request.effects(conn, indices[0])
            except Exception as exc:  # the effect's own failure: reject this entry only
                request.future.set_exception(exc)
                continue
        else:
            entry_rows += mine
            payload_rows += theirs
        for entry in request.entries:
            node_rows += frontier.append(leaf_hash(entry.data))
        assigned[number] = indices
        next_index += len(indices)
    _insert(conn, INSERT_ENTRY, entry_rows)
    _insert(conn, INSERT_PAYLOAD, payload_rows)
    _insert(conn, INSERT_NODE, node_rows)
    if next_index != size:
        conn.exec_driver_sql(driver_sql(conn, UPDATE_SIZE), (next_index,))
    return assigned


class WalSyncer:
    """Flushes the SQLite WAL after commits made without a sync, then answers their appenders.

    `settle` queues a committed batch. Each of SYNC_THREADS threads takes everything queued, fdatasyncs
    the WAL once and answers what it took: one flush answers every batch committed before it began, and on
    this kind of host a flush that starts while another is in flight finishes about as soon (the block
    layer merges them), so appenders that missed one flush need not wait a whole second one. Rounds are
    settled in the order they began: after a failed flush no later round is answered durable, since the
    kernel may report a later flush clean although the pages the failed one carried were lost."""

    def __init__(self, wal: Path) -> None:
        self._wal = wal
        self._fd: int | None = None
        self._retired: list[int] = []  # descriptors on WAL files a new connection replaced
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # work for the flush threads
        self._settled = threading.Condition(lock)  # `close` waits here for rounds flushed by committers
        self._pending: list[tuple[list[Request], dict[int, list[int]]]] = []
        self._rounds_begun = 0
        self._rounds_settled = 0
        self._held = 0  # batches committed by appenders that flush them themselves, not yet numbered
        self._finished: dict[
            int, tuple[list[tuple[list[Request], dict[int, list[int]]]], BaseException | None, bool]
        ] = {}
        self._stopping = False
        self.failure: BaseException | None = None  # once set, the ledger refuses further appends
        self._threads = [
            threading.Thread(target=self._run, name="ledger-wal-sync", daemon=True) for _ in range(SYNC_THREADS)
        ]
        for thread in self._threads:
            thread.start()

    def settle(self, requests: list[Request], assigned: dict[int, list[int]]) -> None:
        with self._cond:
            self._pending.append((requests, assigned))
            self._cond.notify()

    def hold(self) -> None:
        """Announce a batch its committer will flush itself (`finish`), before anyone could close the syncer."""
        with self._cond:
            self._held += 1

    def finish(self, batches: list[tuple[list[Request], dict[int, list[int]]]]) -> None:
        """Flush once for held batches committed before this call, then answer what can be.

        The round is numbered as its flush begins, like the flush threads' rounds: all flushes share one
        descriptor, and the kernel reports a write-back error to one of them only, so a round numbered after a
        failed flush must never be answered durable. An interruption (KeyboardInterrupt, SystemExit) is no
        answer from the disk: the batches are refused, the ledger stays usable, and the interruption goes on."""
        with self._cond:
            self._held -= len(batches)
            number, fd = self._begin_round()
        self._flush_round(number, fd, batches)

    def reopen(self) -> None:
        """A new writer connection may see a new WAL file (SQLite deletes it when its last connection closes):
        later rounds flush whatever file the path names now."""
        with self._cond:
            if self._fd is not None:  # a flush may be about to use it: closed once every numbered round settled
                self._retired.append(self._fd)
                self._fd = None

    def close(self) -> None:
        """Flush and answer what is queued, wait for the rounds committers flush themselves, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        with self._cond:
            while self._held or self._rounds_settled < self._rounds_begun:
                self._settled.wait()
            fds, self._retired = [*self._retired, *([] if self._fd is None else [self._fd])], []
            self._fd = None
        for fd in fds:
            os.close(fd)

    def _descriptor(self) -> int | None:
        """The WAL's descriptor, opened on first use; call with `_cond` held."""
        if self._fd is None and self.failure is None:
            try:
                self._fd = os.open(self._wal, os.O_RDONLY)
            except OSError as exc:
                self.failure = exc
        return self._fd

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                batches, self._pending = self._pending, []
                number, fd = self._begin_round()
            self._flush_round(number, fd, batches)

    def _begin_round(self) -> tuple[int, int | None]:
        """Number a round as its flush begins, with the descriptor it flushes; call with `_cond` held."""
        number = self._rounds_begun
        self._rounds_begun += 1
        return number, self._descriptor()

    def _flush_round(
        self, number: int, fd: int | None, batches: list[tuple[list[Request], dict[int, list[int]]]]
    ) -> None:
        """fdatasync, then settle the round and answer what can be. Only an OSError is the disk's answer: an
        interruption refuses this round alone and goes on."""
        failure: BaseException | None = None
        interrupted: BaseException | None = None
        try:
            if fd is not None:
                os.fdatasync(fd)
        except OSError as exc:
            failure = exc
        except BaseException as exc:
            interrupted = exc
        self._answer(self._settle_in_order(number, batches, failure or interrupted, interrupted is None))
        if interrupted is not None:
            raise interrupted

    def _settle_in_order(
        self,
        number: int,
        batches: list[tuple[list[Request], dict[int, list[int]]]],
        failure: BaseException | None,
        lasting: bool = True,
    ) -> list[tuple[list[tuple[list[Request], dict[int, list[int]]]], BaseException | None]]:
        """The rounds that can be answered now, oldest first, each with the failure it must report; a failure
        that is not `lasting` (an interrupted flush) refuses its own round only."""
        with self._cond:
            self._finished[number] = (batches, failure, lasting)
            ready = []
            while self._rounds_settled in self._finished:
                done, failed, for_good = self._finished.pop(self._rounds_settled)
                self._rounds_settled += 1
                if failed is not None and for_good and self.failure is None:
                    self.failure = failed
                ready.append((done, self.failure or failed))
            if ready:
                self._settled.notify_all()
            if self._rounds_settled == self._rounds_begun and self._retired:
                retired, self._retired = self._retired, []  # never closed twice, even if interrupted midway
                for fd in retired:  # no flush holds an unsettled round, so none is using these
                    os.close(fd)
            return ready

    @staticmethod
    def _answer(ready: list[tuple[list[tuple[list[Request], dict[int, list[int]]]], BaseException | None]]) -> None:
        for batches, failure in ready:
            for requests, assigned in batches:
                if failure is not None:
                    error = LedgerError(f"the ledger could not flush its log: {failure!r}")
                    for request in requests:
                        if not request.future.done():
                            request.future.set_exception(error)
                    continue
                for number, indices in assigned.items():
                    requests[number].future.set_result(indices)


class Sequencer:
    """Owns the worker thread; `submit` is safe from any thread, and from the worker it is refused."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Request | list[Request] | object] = queue.SimpleQueue()
        self._frontier: Frontier | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._expected = 0  # appenders active around the last commit
        self._conn: Connection | None = None  # the worker's own, kept between batches (no pool round trip)
        self._lock_fd: int | None = None  # its descriptor on the SQLite writers' lock file, kept likewise
        self._syncer: WalSyncer | None = None  # SQLite in WAL mode: the fsync happens outside the write lock
        self._role = threading.Lock()  # held by whoever commits: the worker, or a thread appender leading
        self._waiting: collections.deque[Request] = collections.deque()  # thread appenders' requests to lead
        self.commits = 0  # batches committed, by either path
        self.fallbacks = 0  # one-trip attempts that found the head moved by another writer

    def submit(self, entries: Sequence[PreparedEntry], effects: Effects | None) -> Future[list[int]]:
        if threading.current_thread() is self._thread:
            raise LedgerError("cannot append from inside an effects callback (it runs in the append's transaction)")
        future: Future[list[int]] = Future()
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed")
            if self._thread is None:
                self._start_worker()
            self._queue.put(Request(entries, effects, future))
        return future

    def append_here(self, entries: Sequence[PreparedEntry]) -> list[int]:
        """Append effect-free entries for a thread and wait until they are durable, committing in this thread.

        Handing every append to the worker costs three thread wake-ups per batch (appender to worker to flush
        thread to appender), each a hand-over of the interpreter lock, and on a fast disk those, not the
        disk, bound what threads append. So on SQLite in WAL mode a thread appender queues its request and,
        if no one is committing, commits everything queued itself, lets the next leader in, flushes the WAL
        and answers the batch (flat combining). Whoever commits looks at the queue again after letting the role
        go, and a thread that stops leading with appends still queued wakes the worker for them, so a request
        queued while another thread held the role is never stranded. Elsewhere, and until the first commit has
        shown the database is such a file, the worker commits as for `submit`. So does the main thread: Python
        delivers signals there (Ctrl-C), and an interruption in the middle of committing for other threads
        would leave them waiting."""
        if self._syncer is None or threading.current_thread() is threading.main_thread():
            return self.submit(entries, None).result()
        if threading.current_thread() is self._thread:
            raise LedgerError("cannot append from inside an effects callback (it runs in the append's transaction)")
        request = Request(entries, None, Answer())
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed")
            self._waiting.append(request)
        try:
            handed_on = self._lead(self._syncer, request)
        except BaseException:
            self._hand_to_worker()  # others may have queued behind this thread's commit
            raise
        if handed_on:
            self._hand_to_worker()
        return request.future.result()

    def _lead(self, syncer: WalSyncer, request: Request) -> bool:
        """Commit queued thread appends while some are queued and no one else commits, then flush them at once;
        up to MAX_LEADS batches a flush. True if this thread stops with some still queued (its own answered)."""
        while True:
            batches: list[tuple[list[Request], dict[int, list[int]]]] = []
            try:
                while len(batches) < MAX_LEADS and self._waiting and self._role.acquire(blocking=False):
                    try:
                        committed = self._commit(self._take_waiting())
                        if committed is not None:
                            syncer.hold()
                            batches.append(committed)
                    finally:
                        self._role.release()
            finally:
                if batches:
                    syncer.finish(batches)
            if len(batches) < MAX_LEADS:
                return False  # the queue was empty, or whoever holds the role looks at it after letting go
            if request.future.done():
                return bool(self._waiting)

    def _hand_to_worker(self) -> None:
        """Appends queued while this thread held the role wait for whoever holds it next: wake the worker, which
        commits them (`_serve_waiting`), when this thread will not."""
        if self._waiting:
            self.submit_requests([])

    def _take_waiting(self) -> list[Request]:
        """Up to a batch of queued thread appends, or none (each failed) once the ledger is closed."""
        taken: list[Request] = []
        count = 0
        while self._waiting and count < MAX_BATCH_ENTRIES:
            request = self._waiting.popleft()
            taken.append(request)
            count += len(request.entries)
        if self._closed:
            for request in taken:
                request.future.set_exception(LedgerError("the ledger is closed"))
            return []
        return self._runnable(taken)

    def submit_requests(self, requests: list[Request]) -> None:
        """Queue requests as ONE item (an event loop's appends of one turn): the worker wakes once for them all.

        Errors reach each request's future, since its appender awaits it rather than calling in."""
        with self._lock:
            if self._closed:
                for request in requests:
                    request.future.set_exception(LedgerError("the ledger is closed"))
                return
            if self._thread is None:
                self._start_worker()
            self._queue.put(requests)

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()

    def _worker_died(self, exc: BaseException) -> None:
        """A queue nobody drains would hang every appender: what is queued goes to a fresh worker, or fails
        with the worker's error when the ledger is closing."""
        with self._lock:
            self._thread = None
            if not self._closed:
                if not self._queue.empty():
                    self._start_worker()
                return
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            _writer_failed(item, exc)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join()
        with self._role:
            while self._waiting:  # left behind just as the ledger closed: refused
                self._take_waiting()
            self._drop_connection()
        if self._syncer is not None:
            self._syncer.close()

    def _gather(self, first: Request | object, taken: list[Request | object]) -> tuple[list[Request], bool]:
        """Collect a batch behind `first`; returns (requests, stop requested).

        Concurrent appenders otherwise split into two groups that alternate, each paying a whole
        fsync: while one group commits the other queues up. So after a commit the sequencer expects
        that group plus the one it just acknowledged, and lingers until that many requests arrived,
        or none for GATHER_GAP_S, or GATHER_MAX_S passed. A lone appender never waits, and neither does
        anyone on SQLite, whose flushes overlap (see WalSyncer): there the next batch goes while one flushes.
        """
        batch: list[Request | object] = [*_requests_in(first)]
        count = sum(len(r.entries) for r in _requests_in(first))
        # With the flush outside the write lock (SQLite) a batch is cheap and flushes overlap: commit what is here.
        expected = self._expected if self._expected > 1 and self._syncer is None else 0
        deadline = time.monotonic() + GATHER_MAX_S
        while count < MAX_BATCH_ENTRIES:
            try:
                if len(batch) < expected:  # a list counts as one: it comes from a loop that sent all it had
                    more = self._queue.get(timeout=max(0.0, min(GATHER_GAP_S, deadline - time.monotonic())))
                else:
                    more = self._queue.get_nowait()
            except queue.Empty:
                break
            taken.append(more)  # from here the worker answers for it, even if it dies
            if more is _STOP:
                return self._runnable(batch), True
            batch += _requests_in(more)
            count += sum(len(r.entries) for r in _requests_in(more))
        return self._runnable(batch), False

    @staticmethod
    def _runnable(batch: Sequence[Request | object]) -> list[Request]:
        """Drop requests whose caller cancelled them before they were sequenced."""
        return [r for r in batch if isinstance(r, Request) and r.future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        in_hand: list[Request | object] = []
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                in_hand = [item]
                requests, stop = self._gather(item, in_hand)
                with self._role:
                    committed = self._commit(requests)
                if committed is not None:
                    self._answer(*committed)
                self._expected = len(requests) + self._queue.qsize()
                self._serve_waiting()
                if stop:
                    break
        except BaseException as exc:  # dying: no appender in hand may wait forever
            with self._role:
                self._drop_connection()
            self._worker_died(exc)
            for item in in_hand:
                _writer_failed(item, exc)
            self._hand_to_worker()  # thread appends queued while this worker held the role
            raise
        with self._role:
            self._drop_connection()

    def _serve_waiting(self) -> None:
        """Thread appends queued while the worker held the role would wait for a leader that is gone: commit them
        here, and let the flush threads answer them."""
        while self._waiting and self._role.acquire(blocking=False):
            try:
                committed = self._commit(self._take_waiting())
            finally:
                self._role.release()
            if committed is not None:
                self._answer(*committed)

    def _answer(self, requests: list[Request], assigned: dict[int, list[int]]) -> None:
        """Answer a committed batch: after the WAL flush on SQLite (by the flush threads), at once elsewhere."""
        if self._syncer is not None:  # only ever made for a SQLite file in WAL mode
            self._syncer.settle(requests, assigned)
            return
        for number, indices in assigned.items():
            requests[number].future.set_result(indices)

    def _drop_connection(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._syncer is not None:  # it commits without a sync: it must never serve the pool's other users
            conn.invalidate()
        conn.close()

    def _connect(self) -> Connection:
        """The worker's connection; on a SQLite file in WAL mode it commits unsynced and the syncer flushes."""
        conn = writer(self._engine)
        wal = sqlite_wal_path(conn)
        dbapi = conn.connection.dbapi_connection
        # pysqlite runs these outside any transaction (see database.py); only a WAL may skip the sync at COMMIT
        if wal is not None and dbapi is not None and dbapi.execute("PRAGMA journal_mode").fetchone() == ("wal",):
            if self._syncer is None:
                self._syncer = WalSyncer(wal)
            else:
                self._syncer.reopen()
            dbapi.execute("PRAGMA synchronous = NORMAL")
        self._lock_fd = open_writer_lock(conn)
        return conn

    def _commit(self, requests: list[Request]) -> tuple[list[Request], dict[int, list[int]]] | None:
        """Commit a batch (holding `_role`); the batch and each request's indices, or None if nothing committed.
        A failure reaches every request's future here."""
        if not requests:
            return None
        try:
            if self._syncer is not None and self._syncer.failure is not None:
                raise LedgerError(f"the ledger could not flush its log earlier: {self._syncer.failure!r}")
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            cached = self._frontier
            done = None
            if cached is not None and conn.dialect.name == "postgresql" and all(r.effects is None for r in requests):
                done = append_in_one_trip(conn, cached, requests)
                self.fallbacks += done is None
            if done is None and conn.dialect.name == "sqlite" and all(r.effects is None for r in requests):
                done = append_on_sqlite(conn, cached, requests, self._lock_fd)
            if done is not None:
                assigned, frontier = done
            else:
                with locked_transaction(conn) as (size, _):
                    frontier = (
                        cached.copy() if cached is not None and cached.size == size else load_frontier(conn, size)
                    )
                    assigned = write_batch(conn, size, frontier, requests)
        except BaseException as exc:  # every waiter learns why; the worker lives on for later appends
            self._frontier = None
            # an interruption belongs to the thread it hit, not to the other appenders of its batch
            error = exc if isinstance(exc, Exception) else LedgerError(f"the append was interrupted: {exc!r}")
            for request in requests:
                if isinstance(request, Request) and not request.future.done():
                    request.future.set_exception(error)
            with contextlib.suppress(SQLAlchemyError):  # already failing: the next batch takes a fresh one
                self._drop_connection()
            if error is not exc:
                raise
            return None
        self._frontier = frontier
        self.commits += 1
        return requests, assigned


def _requests_in(item: Request | object) -> list[Request]:
    """The requests of a queue item: one request, a list of them (`submit_requests`), or none (_STOP)."""
    if isinstance(item, Request):
        return [item]
    if isinstance(item, list):
        return [r for r in item if isinstance(r, Request)]
    return []


def _writer_failed(item: Request | object, exc: BaseException) -> None:
    """Tell the appenders waiting on a queue item that the writer died before answering them."""
    for request in _requests_in(item):
        if not request.future.done():
            request.future.set_exception(LedgerError(f"the ledger writer failed: {exc!r}"))
