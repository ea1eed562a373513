"""`Ledger`: the storage API other packages code against (see the contract in the issue).

Appends go through the sequencer (group commit, durable before return); reads build roots and RFC
9162 proofs from the stored complete-subtree nodes in one keyed query each.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.envelope import ERASURE_TYPE, Event, PreparedEntry, prepare
from ledger.errors import EventError, LedgerError
from ledger.note import NoteError, parse_signer_key
from ledger.rfc9162 import ProofError
from ledger.store import schema
from ledger.store.database import open_engine, purge_wal, read_nodes, read_nodes_now, write_transaction
from ledger.store.sequencer import Effects, Request, Sequencer
from ledger.tree import Range, assemble, consistency_ranges, inclusion_ranges, keys_for

# Entries whose payloads one statement deletes: well inside every driver's limit on bound parameters.
_ERASE_CHUNK = 900


def origin_of(signer_key: str) -> str:
    """The checkpoint origin is the signer key's name, as C2SP checkpoints signed by the log itself require."""
    try:
        return parse_signer_key(signer_key).name
    except NoteError as exc:
        raise LedgerError(f"the checkpoint signer key is unusable: {exc}") from exc


def hashes_for(conn: Connection, ranges: Sequence[Range]) -> list[bytes]:
    return assemble(ranges, read_nodes(conn, keys_for(ranges)))


def hashes_now(engine: Engine, ranges: Sequence[Range]) -> list[bytes]:
    """`hashes_for` in a single statement of its own (see `read_nodes_now`)."""
    return assemble(ranges, read_nodes_now(engine, keys_for(ranges)))


class _LoopWaker:
    """Hands one event loop's appends to the sequencer and its answers back, one wake each way per batch.

    The appends a loop makes in one turn go to the sequencer as one queue item after that turn, so the
    writer thread wakes (and takes the interpreter lock from the loop) once for them rather than once each.

    `asyncio.wrap_future` wakes the loop once per append: with 16 appenders in a batch, 16 self-pipe writes
    from the writer thread, each a hand-over of the interpreter lock between the writer and the loop. Here
    the first answer of a burst schedules one delivery and the rest of the batch joins it, so the loop
    wakes once and resolves them all. Cancelling the awaiting task cancels the append as `wrap_future` does
    (withdrawn if not yet sequenced, appended regardless once it is).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sequencer: Sequencer) -> None:
        self._loop = weakref.ref(loop)  # the ledger's map of wakers must not keep a finished loop alive
        self._sequencer = sequencer
        self._lock = threading.Lock()
        self._ready: list[tuple[Future[list[int]], asyncio.Future[list[int]]]] = []
        self._outgoing: list[Request] = []  # touched on the loop only

    def submit(self, entries: Sequence[PreparedEntry], effects: Effects | None) -> asyncio.Future[list[int]]:
        future: Future[list[int]] = Future()
        self._outgoing.append(Request(entries, effects, future))
        if len(self._outgoing) == 1:
            asyncio.get_running_loop().call_soon(self._send)
        return self.watch(future)

    def _send(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        self._sequencer.submit_requests(outgoing)

    def watch(self, future: Future[list[int]]) -> asyncio.Future[list[int]]:
        waiter: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()

        def cancel_append(done: asyncio.Future[list[int]]) -> None:
            if done.cancelled():
                future.cancel()

        waiter.add_done_callback(cancel_append)
        future.add_done_callback(lambda answered: self._answered(answered, waiter))
        return waiter

    def _answered(self, future: Future[list[int]], waiter: asyncio.Future[list[int]]) -> None:
        """On the thread that answered (the writer, or the canceller): queue it, and wake the loop if first."""
        with self._lock:
            self._ready.append((future, waiter))
            first = len(self._ready) == 1
        loop = self._loop()
        if first and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, []
        for future, waiter in ready:
            if waiter.done():  # its task was cancelled meanwhile
                continue
            if future.cancelled():
                waiter.cancel()
            elif (exc := future.exception()) is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(future.result())


class Ledger:
    """A tamper-evident Merkle log in a SQL database; safe to share between threads and asyncio tasks.

    Other packages keep their tables in the same database through `engine`. On SQLite their
    transactions begin deferred (a reader never blocks the sequencer); one that will write should
    take the write lock up front with `engine.connect().execution_options(ledger_write=True)`
    (BEGIN IMMEDIATE), or SQLite may refuse its first write with SQLITE_BUSY after a ledger commit.
    Work that must commit with an entry belongs in `append(..., effects=...)` instead.
    """

    engine: Engine

    def __init__(self, engine: Engine, signer_key: str | None) -> None:
        self.engine = engine
        self._signer_key = signer_key
        self._origin = origin_of(signer_key) if signer_key is not None else None
        self._sequencer = Sequencer(engine)
        self._known_size = 0  # sizes only grow: a size below this needs no head read
        self._wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaker] = weakref.WeakKeyDictionary()

    @classmethod
    def open(cls, url: str, *, signer_key: str | None = None, create: bool = True) -> Ledger:
        """Open (and with `create`, migrate) the ledger at a SQLAlchemy URL; NotALedgerError otherwise."""
        if signer_key is not None:
            origin_of(signer_key)
        return cls(open_engine(url, create=create), signer_key)

    # -- writing -------------------------------------------------------------------------------------

    def append(self, event: Event, *, effects: Effects | None = None) -> int:
        """Append one event; returns its index once durable. `effects(conn, index)` share its transaction."""
        if effects is None:
            return self._sequencer.append_here([prepare(event)])[0]
        return self._sequencer.submit([prepare(event)], effects).result()[0]

    async def append_async(self, event: Event, *, effects: Effects | None = None) -> int:
        """`append` for asyncio: concurrent tasks are group-committed together.

        `effects` run on the sequencer's thread, not the event loop: they may use the connection they
        are given but must not touch loop-bound objects. Cancelling the task before the entry is
        sequenced withdraws it; once sequenced it is appended regardless.
        """
        entries = [prepare(event)]
        loop = asyncio.get_running_loop()
        waker = self._wakers.get(loop)
        if waker is None:
            waker = self._wakers[loop] = _LoopWaker(loop, self._sequencer)
        return (await waker.submit(entries, effects))[0]

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Append all events atomically (one transaction, contiguous indices), or none of them."""
        prepared = []
        for position, event in enumerate(events):
            try:
                prepared.append(prepare(event))
            except EventError as exc:
                raise EventError(f"event {position}: {exc}", position) from exc
        if not prepared:
            return []
        return self._sequencer.append_here(prepared)

    def erase_subject(self, subject: str, *, actor: str) -> int:
        """GDPR Art. 17: delete the subject's payloads and salts and record the erasure, atomically."""

        def forget(conn: Connection, index: int) -> None:
            conn.execute(
                delete(schema.payloads).where(schema.payloads.c.subject == subject, schema.payloads.c.idx < index)
            )

        index = self.append(Event(type=ERASURE_TYPE, actor=actor, subject=subject), effects=forget)
        purge_wal(self.engine)
        return index

    def erase_payloads(
        self,
        indices: Sequence[int],
        event: Event,
        *,
        effects: Effects | None = None,
        purge: bool = True,
    ) -> int:
        """Delete the payloads and salts of exactly these entries and record it as `event`, atomically.

        The same forgetting as `erase_subject`, for entries chosen by age instead of by subject (retention): the
        leaves commit to the payloads only through salted hashes, so every root and proof stays valid. `effects`
        run in the same transaction after the deletion (a fence, an index update). Many batches in a row may leave
        `purge` off and call `purge` once at the end (folding the SQLite log stalls other writers while it runs)."""
        wanted = sorted(set(indices))

        def forget(conn: Connection, index: int) -> None:
            for start in range(0, len(wanted), _ERASE_CHUNK):
                chunk = wanted[start : start + _ERASE_CHUNK]
                conn.execute(delete(schema.payloads).where(schema.payloads.c.idx.in_(chunk)))
            if effects is not None:
                effects(conn, index)

        if wanted and wanted[-1] >= self.size():
            raise LedgerError(f"no entry at index {wanted[-1]}")
        index = self.append(event, effects=forget)
        if purge:
            self.purge()
        return index

    def purge(self) -> None:
        """Make deleted payloads unrecoverable from the database files too (SQLite: fold and truncate the log)."""
        purge_wal(self.engine)

    def batch_counts(self) -> tuple[int, int]:
        """(batches committed, one-trip attempts that found the head moved and took the locked path) since open.

        Group commit and the PostgreSQL one-trip path are invisible from outside; benchmarks and the
        two-process test read them here."""
        return self._sequencer.commits, self._sequencer.fallbacks

    @property
    def origin(self) -> str | None:
        """The origin this ledger signs checkpoints as (its signer key's name); None without a signer."""
        return self._origin

    def stored_origin(self) -> str | None:
        """The origin fixed when the log was created (None if nobody claimed one yet)."""
        with self.engine.connect() as conn:
            stored = conn.execute(select(schema.head.c.origin).where(schema.head.c.id == schema.HEAD_ID)).scalar()
        return None if stored is None else str(stored)

    def claim_origin(self, origin: str) -> str:
        """The log's stored origin; the first caller fixes it to `origin`. A log is named once: serving it from
        another URL must not rename it, or every checkpoint an auditor kept would stop verifying."""
        with write_transaction(self.engine) as (conn, _, _):
            stored = conn.execute(select(schema.head.c.origin).where(schema.head.c.id == schema.HEAD_ID)).scalar()
            if stored is not None:
                return str(stored)
            conn.execute(update(schema.head).where(schema.head.c.id == schema.HEAD_ID).values(origin=origin))
        return origin

    def checkpoint(self) -> str:
        """Sign and store a checkpoint of the current size; every one is kept for later consistency proofs."""
        if self._signer_key is None or self._origin is None:
            raise LedgerError("no signer key: open the ledger with signer_key= to publish checkpoints")
        with write_transaction(self.engine) as (conn, size, count):
            root = hashes_for(conn, [(0, size)])[0]
            note = sign_checkpoint(Checkpoint(self._origin, size, root, ()), self._signer_key)
            conn.execute(insert(schema.checkpoints).values(seq=count, size=size, note=note))
            conn.execute(update(schema.head).where(schema.head.c.id == schema.HEAD_ID).values(checkpoints=count + 1))
        return note

    def probe_write(self) -> None:
        """Commit a real write under the ledger's write lock: the head row's probe counter, nothing of the log.

        Readiness uses it: a database that still answers reads may refuse every append (a full disk, a
        read-only file system), and a gateway that cannot record an access must not be routed reads."""
        with write_transaction(self.engine) as (conn, _, _):
            conn.execute(
                update(schema.head)
                .where(schema.head.c.id == schema.HEAD_ID)
                .values(write_probes=schema.head.c.write_probes + 1)
            )

    # -- reading -------------------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            size = conn.execute(select(schema.head.c.size).where(schema.head.c.id == schema.HEAD_ID)).scalar_one()
        self._known_size = max(self._known_size, int(size))
        return int(size)

    def _check_size(self, tree_size: int) -> None:
        if tree_size < 0:
            raise ProofError(f"tree size {tree_size} is negative")
        if tree_size > self._known_size and tree_size > self.size():
            raise ProofError(f"tree size {tree_size} is beyond the log's size {self._known_size}")

    def entry(self, index: int) -> bytes:
        """The canonical leaf data at `index`."""
        found = self.entries(index, index + 1)
        if not found:
            raise LedgerError(f"no entry at index {index}")
        return found[0]

    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaf data for indices [start, end), clipped to the log."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.entries.c.data)
                .where(schema.entries.c.idx >= start, schema.entries.c.idx < end)
                .order_by(schema.entries.c.idx)
            ).scalars()
            return [bytes(data) for data in rows]

    def payload(self, index: int) -> Mapping[str, Any] | None:
        """The payload recorded with the entry, or None when it had none or it was erased."""
        with self.engine.connect() as conn:
            data = conn.execute(select(schema.payloads.c.payload).where(schema.payloads.c.idx == index)).scalar()
        if data is None:
            return None
        value = json.loads(bytes(data))
        if not isinstance(value, dict):
            raise LedgerError(f"stored payload of entry {index} is not a JSON object")
        return value

    def salted_payload(self, index: int) -> tuple[bytes, bytes] | None:
        """The salt and RFC 8785 payload bytes of an entry (None when it had none or it was erased).

        Disclosing both to a relying party lets it check that a payload is the one an entry commits to
        (`payload_hash(salt, payload) == envelope["payload_hash"]`) for that one entry only."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.payloads.c.salt, schema.payloads.c.payload).where(schema.payloads.c.idx == index)
            ).first()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def root(self, tree_size: int | None = None) -> bytes:
        """RFC 9162 Merkle Tree Hash of the first `tree_size` entries (default: all)."""
        size = self.size() if tree_size is None else tree_size
        self._check_size(size)
        return hashes_now(self.engine, [(0, size)])[0]

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """The RFC 9162 audit path of `index` in the tree of `tree_size`."""
        self._check_size(tree_size)
        return hashes_now(self.engine, inclusion_ranges(index, tree_size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof that the tree of `size1` is a prefix of the tree of `size2`."""
        self._check_size(size2)
        return hashes_now(self.engine, consistency_ranges(size1, size2))

    def checkpoints(self) -> list[str]:
        """Every checkpoint ever published, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(schema.checkpoints.c.note).order_by(schema.checkpoints.c.seq)).scalars())

    def latest_checkpoint(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(schema.checkpoints.c.note).order_by(schema.checkpoints.c.seq.desc()).limit(1)
            ).scalar()

    def close(self) -> None:
        """Finish queued appends, stop the sequencer and release connections."""
        self._sequencer.close()
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
