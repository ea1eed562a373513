"""The auditor's full check of a stored ledger: every row is re-derived, nothing is taken on trust.

This module only reads rows, in a consistent snapshot; the rules they must obey are `ledger.audit`'s.

Order of the checks, so the FIRST bad row is the one named:
1. entries 0..size-1 in index order: present, canonical envelopes, leaf hash equal to node (0, i);
   their payloads: hash and subject match the entry, or the payload was erased by a later erasure entry;
2. tree nodes level by level: node (l, i) = SHA-256(0x01 ‖ node (l-1, 2i) ‖ node (l-1, 2i+1));
3. rows that should not exist (beyond the head's size, at levels above the tree's height);
4. checkpoints 0..count-1: signed by a trusted key, root equal to the root recomputed from the entries
   themselves at their size, and each consistent with the one before it by a proof built from the stored nodes.
Work is chunked so a log of millions of entries is checked in bounded memory.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine, func, select

from ledger.audit import AuditReport, PayloadAudit, TreeReplay, check_entry, check_level, check_tree_head, node_where
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.errors import LedgerError, TamperError
from ledger.note import NoteError
from ledger.rfc9162 import ProofError, verify_consistency
from ledger.store import schema
from ledger.store.log import Ledger, hashes_for
from ledger.tree import consistency_ranges

CHUNK = 20_000


def _read_head(conn: Connection) -> tuple[int, int]:
    row = conn.execute(
        select(schema.head.c.size, schema.head.c.checkpoints).where(schema.head.c.id == schema.HEAD_ID)
    ).one_or_none()
    if row is None:
        raise TamperError("head", "the head row is missing")
    extra = conn.execute(select(func.count()).select_from(schema.head)).scalar_one()
    if extra != 1:
        raise TamperError("head", f"{extra} head rows instead of 1")
    size, count = int(row.size), int(row.checkpoints)
    if size < 0 or count < 0:
        raise TamperError("head", "negative size or checkpoint count")
    return size, count


def _level(conn: Connection, level: int, start: int, end: int) -> dict[int, bytes]:
    rows = conn.execute(
        select(schema.nodes.c.idx, schema.nodes.c.hash).where(
            schema.nodes.c.level == level, schema.nodes.c.idx >= start, schema.nodes.c.idx < end
        )
    ).all()
    return {int(i): bytes(h) for i, h in rows}


def _check_entries(conn: Connection, size: int, replay: TreeReplay, payloads: PayloadAudit) -> None:
    for start in range(0, size, CHUNK):
        end = min(start + CHUNK, size)
        data = {
            int(i): bytes(d)
            for i, d in conn.execute(
                select(schema.entries.c.idx, schema.entries.c.data).where(
                    schema.entries.c.idx >= start, schema.entries.c.idx < end
                )
            )
        }
        leaves = _level(conn, 0, start, end)
        rows = {
            int(i): (bytes(salt), bytes(payload), subject)
            for i, salt, payload, subject in conn.execute(
                select(
                    schema.payloads.c.idx, schema.payloads.c.salt, schema.payloads.c.payload, schema.payloads.c.subject
                ).where(schema.payloads.c.idx >= start, schema.payloads.c.idx < end)
            )
        }
        for index in range(start, end):
            if index not in data:
                raise TamperError(f"entry {index}", "missing (deleted)")
            raw = data[index]
            envelope = check_entry(index, raw)
            leaf = replay.append(raw)
            stored = leaves.get(index)
            if stored is None:
                raise TamperError(node_where(0, index), "missing (deleted)")
            if not hmac.compare_digest(stored, leaf):
                raise TamperError(
                    f"entry {index}", "its leaf hash differs from the stored tree (entry or leaf altered)"
                )
            payloads.check(index, envelope, rows.get(index))
    payloads.finish()


def _check_levels(conn: Connection, size: int) -> int:
    checked = size
    level = 1
    while size >> level:
        count = size >> level
        for start in range(0, count, CHUNK):
            end = min(start + CHUNK, count)
            check_level(level, _level(conn, level, start, end), _level(conn, level - 1, 2 * start, 2 * end), start, end)
        checked += count
        level += 1
    return checked


def _check_no_extra_rows(conn: Connection, size: int) -> None:
    extra_entry = conn.execute(
        select(func.min(schema.entries.c.idx)).where((schema.entries.c.idx >= size) | (schema.entries.c.idx < 0))
    ).scalar()
    if extra_entry is not None:
        raise TamperError(f"entry {extra_entry}", f"stored beyond the log's size {size} (inserted)")
    height = size.bit_length()
    per_level = conn.execute(
        select(schema.nodes.c.level, func.count(), func.min(schema.nodes.c.idx), func.max(schema.nodes.c.idx))
        .group_by(schema.nodes.c.level)
        .order_by(schema.nodes.c.level)
    ).all()
    for level, count, lowest, highest in per_level:
        expected = size >> level if 0 <= level < height else 0
        if count != expected:
            index = highest if lowest >= 0 else lowest
            raise TamperError(node_where(int(level), int(index)), f"not part of a tree of size {size} (inserted)")
    extra_payload = conn.execute(
        select(func.min(schema.payloads.c.idx)).where((schema.payloads.c.idx >= size) | (schema.payloads.c.idx < 0))
    ).scalar()
    if extra_payload is not None:
        raise TamperError(f"payload of entry {extra_payload}", f"stored beyond the log's size {size} (inserted)")


def _read_checkpoints(conn: Connection) -> list[tuple[int, int, str]]:
    """(seq, size, note) of every stored checkpoint, read up front so the replay keeps the roots they sign."""
    rows = conn.execute(
        select(schema.checkpoints.c.seq, schema.checkpoints.c.size, schema.checkpoints.c.note).order_by(
            schema.checkpoints.c.seq
        )
    )
    return [(int(seq), int(size), str(note)) for seq, size, note in rows]


def _check_checkpoints(
    conn: Connection,
    rows: Sequence[tuple[int, int, str]],
    count: int,
    verifier_keys: Sequence[str],
    replay: TreeReplay,
) -> int:
    if rows and not verifier_keys:
        raise LedgerError(f"{len(rows)} checkpoints are stored but no verifier key was given to check them")
    previous: Checkpoint | None = None
    for expected, (seq, stored_size, note) in enumerate(rows):
        if seq < expected:
            raise TamperError(f"checkpoint {seq}", "not a valid sequence number (inserted)")
        if seq > expected:
            raise TamperError(f"checkpoint {expected}", "missing (deleted)")
        where = f"checkpoint {seq}"
        if seq >= count:
            raise TamperError(where, f"beyond the {count} checkpoints the head records (inserted)")
        try:
            checkpoint = verify_checkpoint(note, verifier_keys, previous.origin if previous else None)
        except NoteError as exc:
            raise TamperError(where, f"does not verify: {exc}") from exc
        if checkpoint.size != stored_size:
            raise TamperError(where, f"stored size {stored_size} differs from the signed size {checkpoint.size}")
        check_tree_head(where, checkpoint, replay)
        if previous is not None:
            if checkpoint.size < previous.size:
                raise TamperError(
                    where, f"size {checkpoint.size} is smaller than checkpoint {seq - 1}'s {previous.size}"
                )
            proof = hashes_for(conn, consistency_ranges(previous.size, checkpoint.size))
            try:
                verify_consistency(previous.size, checkpoint.size, proof, previous.root, checkpoint.root)
            except ProofError as exc:
                raise TamperError(where, f"not consistent with checkpoint {seq - 1}: {exc}") from exc
        previous = checkpoint
    if len(rows) < count:
        raise TamperError(f"checkpoint {len(rows)}", f"missing (deleted): the head records {count} published")
    return len(rows)


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent view for the whole audit, while appends may continue."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def audit(ledger: Ledger, verifier_keys: Sequence[str]) -> AuditReport:
    """Check every stored row of the ledger; raise TamperError naming the first that does not hold."""
    with _snapshot(ledger.engine) as conn:
        size, checkpoint_count = _read_head(conn)
        stored_checkpoints = _read_checkpoints(conn)
        replay = TreeReplay(keep=[stored_size for _, stored_size, _ in stored_checkpoints])
        payloads = PayloadAudit()
        _check_entries(conn, size, replay, payloads)
        nodes = _check_levels(conn, size)
        _check_no_extra_rows(conn, size)
        checkpoints = _check_checkpoints(conn, stored_checkpoints, checkpoint_count, verifier_keys, replay)
    return AuditReport(size, nodes, payloads.present, len(payloads.erased), checkpoints, replay.root())


def check_head(ledger: Ledger, verifier_keys: Sequence[str], origin: str | None = None) -> AuditReport:
    """The log's own quick self-check: its stored entries must still produce the head it signed.

    Every entry is re-hashed in index order: its leaf hash must equal the stored leaf node (so an edited
    entry is named by index), and the root replayed from the entries must equal the root of the latest
    signed checkpoint. Interior nodes and payloads are left to the full `audit`. Entries below the size
    read first never change, so the chunks are read in short transactions of their own while appends
    continue, and memory stays bounded however long the log is.
    """
    note = ledger.latest_checkpoint()
    checkpoint: Checkpoint | None = None
    if note is not None:
        try:
            checkpoint = verify_checkpoint(note, verifier_keys, origin)
        except NoteError as exc:
            raise TamperError("latest checkpoint", f"does not verify: {exc}") from exc
    size = ledger.size()
    if checkpoint is not None and checkpoint.size > size:
        raise TamperError("latest checkpoint", f"signed size {checkpoint.size} is beyond the log's size {size}")
    replay = TreeReplay(keep=[checkpoint.size] if checkpoint is not None else [])
    for start in range(0, size, CHUNK):
        end = min(start + CHUNK, size)
        with ledger.engine.connect() as conn:
            data = {
                int(i): bytes(d)
                for i, d in conn.execute(
                    select(schema.entries.c.idx, schema.entries.c.data).where(
                        schema.entries.c.idx >= start, schema.entries.c.idx < end
                    )
                )
            }
            leaves = _level(conn, 0, start, end)
        for index in range(start, end):
            if index not in data:
                raise TamperError(f"entry {index}", "missing (deleted)")
            leaf = replay.append(data[index])
            stored = leaves.get(index)
            if stored is None or not hmac.compare_digest(stored, leaf):
                raise TamperError(
                    f"entry {index}", "its leaf hash differs from the stored tree (entry or leaf altered)"
                )
    if checkpoint is not None:
        check_tree_head("latest checkpoint", checkpoint, replay)
    return AuditReport(size, size, 0, 0, 0 if checkpoint is None else 1, replay.root())
