"""The one sequencer: group commit of concurrent appends into single transactions.

Appenders (threads, asyncio tasks) hand prepared entries to a queue and wait on a future; one worker
thread per `Ledger` drains everything queued, takes the database write lock, assigns the next
contiguous indices, inserts entries, payloads and tree nodes, commits, and only then resolves the
futures. Indices come from the locked head row, never from a database sequence, so a rollback leaves
no gap and two processes on one database cannot fork the tree. Each entry with `effects` runs them in
a savepoint: if they raise, only that entry is rolled back and it consumes no index.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, update

from ledger import schema
from ledger.database import read_nodes, write_transaction
from ledger.envelope import PreparedEntry
from ledger.errors import LedgerError
from ledger.rfc9162 import leaf_hash
from ledger.tree import Frontier, range_nodes

Effects = Callable[[Connection, int], None]
MAX_BATCH_ENTRIES = 5_000


@dataclass
class Request:
    entries: Sequence[PreparedEntry]
    effects: Effects | None
    future: Future[list[int]] = field(default_factory=Future)


_STOP = object()


def load_frontier(conn: Connection, size: int) -> Frontier:
    """Read the right edge of the stored tree (popcount(size) nodes) in one query."""
    keys = range_nodes(0, size)
    found = read_nodes(conn, keys)
    return Frontier(size, [found[k] for k in keys])


def entry_rows(index: int, entry: PreparedEntry) -> tuple[dict[str, Any], dict[str, Any] | None]:
    row = {"idx": index, "data": entry.data}
    if entry.payload_json is None or entry.salt is None:
        return row, None
    return row, {"idx": index, "subject": entry.subject, "salt": entry.salt, "payload": entry.payload_json}


def write_batch(conn: Connection, size: int, frontier: Frontier, requests: Sequence[Request]) -> dict[int, list[int]]:
    """Append the requests at `size` inside the caller's locked transaction; return indices per request.

    Requests whose effects raised get the exception set on their future and no entry in the result.
    The frontier is advanced in place; the caller keeps it only once the transaction commits.
    """
    assigned: dict[int, list[int]] = {}
    entry_batch: list[dict[str, Any]] = []
    payload_batch: list[dict[str, Any]] = []
    node_batch: list[dict[str, Any]] = []
    next_index = size
    for number, request in enumerate(requests):
        indices = list(range(next_index, next_index + len(request.entries)))
        if request.effects is not None:
            try:
                with conn.begin_nested():
                    for index, entry in zip(indices, request.entries, strict=True):
                        row, payload = entry_rows(index, entry)
                        conn.execute(insert(schema.entries), row)
                        if payload is not None:
                            conn.execute(insert(schema.payloads), payload)
                    request.effects(conn, indices[0])
            except Exception as exc:  # the effect's own failure: reject this entry only
                request.future.set_exception(exc)
                continue
        else:
            for index, entry in zip(indices, request.entries, strict=True):
                row, payload = entry_rows(index, entry)
                entry_batch.append(row)
                if payload is not None:
                    payload_batch.append(payload)
        for entry in request.entries:
            for level, idx, digest in frontier.append(leaf_hash(entry.data)):
                node_batch.append({"level": level, "idx": idx, "hash": digest})
        assigned[number] = indices
        next_index += len(indices)
    if entry_batch:
        conn.execute(insert(schema.entries), entry_batch)
    if payload_batch:
        conn.execute(insert(schema.payloads), payload_batch)
    if node_batch:
        conn.execute(insert(schema.nodes), node_batch)
    if next_index != size:
        conn.execute(update(schema.head).where(schema.head.c.id == schema.HEAD_ID).values(size=next_index))
    return assigned


class Sequencer:
    """Owns the worker thread; `submit` is safe from any thread, and from the worker it is refused."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Request | object] = queue.SimpleQueue()
        self._frontier: Frontier | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, entries: Sequence[PreparedEntry], effects: Effects | None) -> Future[list[int]]:
        if threading.current_thread() is self._thread:
            raise LedgerError("cannot append from inside an effects callback (it runs in the append's transaction)")
        request = Request(entries, effects)
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
                self._thread.start()
            self._queue.put(request)
        return request.future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            count = len(item.entries) if isinstance(item, Request) else 0
            stop = False
            while count < MAX_BATCH_ENTRIES:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
                count += len(more.entries) if isinstance(more, Request) else 0
            self._commit([r for r in batch if isinstance(r, Request) and r.future.set_running_or_notify_cancel()])
            if stop:
                return

    def _commit(self, requests: list[Request]) -> None:
        if not requests:
            return
        try:
            with write_transaction(self._engine) as (conn, size, _):
                cached = self._frontier
                frontier = cached.copy() if cached is not None and cached.size == size else load_frontier(conn, size)
                assigned = write_batch(conn, size, frontier, requests)
        except BaseException as exc:
            self._frontier = None
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._frontier = frontier
        for number, indices in assigned.items():
            requests[number].future.set_result(indices)
