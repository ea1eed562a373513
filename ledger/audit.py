"""The auditor's full check of a stored ledger: every row is re-derived, nothing is taken on trust.

Order of the checks, so the FIRST bad row is the one named:
1. entries 0..size-1 in index order: present, canonical envelopes, leaf hash equal to node (0, i);
   their payloads: hash and subject match the entry, or the payload was erased by a later erasure entry;
2. tree nodes level by level: node (l, i) = SHA-256(0x01 ‖ node (l-1, 2i) ‖ node (l-1, 2i+1));
3. rows that should not exist (beyond the head's size, at levels above the tree's height);
4. checkpoints 0..count-1: signed by a trusted key, root equal to the recomputed root at their size,
   and each consistent with the one before it.
Work is chunked so a log of millions of entries is checked in bounded memory.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select

from ledger import schema
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.envelope import ERASURE_TYPE, canonical_json, parse_envelope, payload_hash
from ledger.errors import EventError, LedgerError, TamperError
from ledger.log import Ledger, hashes_for
from ledger.note import NoteError
from ledger.rfc9162 import ProofError, leaf_hash, node_hash, verify_consistency
from ledger.tree import consistency_ranges

CHUNK = 20_000


@dataclass(frozen=True)
class AuditReport:
    """What an audit covered: all of it held."""

    size: int
    nodes: int
    payloads: int
    erased_payloads: int
    checkpoints: int
    root: bytes


@dataclass
class _Payloads:
    present: int = 0
    erased: list[tuple[int, str | None]] = field(default_factory=list)
    first_present: dict[str | None, int] = field(default_factory=dict)
    last_erasure: dict[str, int] = field(default_factory=dict)


def _node_where(level: int, index: int) -> str:
    return f"node (level {level}, index {index})"


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


def _check_payload(
    index: int, envelope: dict[str, object], row: tuple[bytes, bytes, str | None] | None, state: _Payloads
) -> None:
    where = f"payload of entry {index}"
    expected = envelope["payload_hash"]
    subject = envelope["subject"]
    if envelope["type"] == ERASURE_TYPE and isinstance(subject, str):
        state.last_erasure[subject] = index
    if row is None:
        if expected is not None:
            state.erased.append((index, subject if isinstance(subject, str) else None))
        return
    if expected is None:
        raise TamperError(where, "a payload is stored for an entry that commits to none")
    salt, payload, stored_subject = row
    if stored_subject != subject:
        raise TamperError(where, "its subject differs from the entry's subject")
    try:
        canonical = canonical_json(json.loads(payload))
    except (ValueError, EventError) as exc:
        raise TamperError(where, f"not JSON: {exc}") from exc
    if canonical != payload:
        raise TamperError(where, "not in RFC 8785 canonical form")
    if not hmac.compare_digest(payload_hash(salt, payload), str(expected)):
        raise TamperError(where, "salted hash differs from the entry's payload_hash")
    state.present += 1
    state.first_present.setdefault(stored_subject, index)


def _check_entries(conn: Connection, size: int, state: _Payloads) -> None:
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
            try:
                envelope = parse_envelope(raw)
            except EventError as exc:
                raise TamperError(f"entry {index}", str(exc)) from exc
            stored = leaves.get(index)
            if stored is None:
                raise TamperError(_node_where(0, index), "missing (deleted)")
            if not hmac.compare_digest(stored, leaf_hash(raw)):
                raise TamperError(
                    f"entry {index}", "its leaf hash differs from the stored tree (entry or leaf altered)"
                )
            _check_payload(index, envelope, rows.get(index), state)
    for index, subject in state.erased:
        erased_at = state.last_erasure.get(subject) if subject is not None else None
        if erased_at is None or erased_at < index:
            raise TamperError(f"payload of entry {index}", "missing, and no later erasure entry of its subject")
    for subject, first in state.first_present.items():
        if subject is not None and state.last_erasure.get(subject, -1) > first:
            raise TamperError(f"payload of entry {first}", "still stored after its subject was erased")


def _check_levels(conn: Connection, size: int) -> int:
    checked = size
    level = 1
    while size >> level:
        count = size >> level
        for start in range(0, count, CHUNK):
            end = min(start + CHUNK, count)
            children = _level(conn, level - 1, 2 * start, 2 * end)
            stored = _level(conn, level, start, end)
            for index in range(start, end):
                if index not in stored:
                    raise TamperError(_node_where(level, index), "missing (deleted)")
                expected = node_hash(children[2 * index], children[2 * index + 1])
                if not hmac.compare_digest(stored[index], expected):
                    raise TamperError(_node_where(level, index), "differs from the hash of its two children")
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
            raise TamperError(_node_where(int(level), int(index)), f"not part of a tree of size {size} (inserted)")
    extra_payload = conn.execute(
        select(func.min(schema.payloads.c.idx)).where((schema.payloads.c.idx >= size) | (schema.payloads.c.idx < 0))
    ).scalar()
    if extra_payload is not None:
        raise TamperError(f"payload of entry {extra_payload}", f"stored beyond the log's size {size} (inserted)")


def _check_checkpoints(conn: Connection, size: int, count: int, verifier_keys: Sequence[str]) -> int:
    rows = conn.execute(
        select(schema.checkpoints.c.seq, schema.checkpoints.c.size, schema.checkpoints.c.note).order_by(
            schema.checkpoints.c.seq
        )
    ).all()
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
        if checkpoint.size > size:
            raise TamperError(where, f"signed size {checkpoint.size} is beyond the log's size {size}")
        if not hmac.compare_digest(hashes_for(conn, [(0, checkpoint.size)])[0], checkpoint.root):
            raise TamperError(where, f"signed root differs from the recomputed root at size {checkpoint.size}")
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
        state = _Payloads()
        _check_entries(conn, size, state)
        nodes = _check_levels(conn, size)
        _check_no_extra_rows(conn, size)
        checkpoints = _check_checkpoints(conn, size, checkpoint_count, verifier_keys)
        root = hashes_for(conn, [(0, size)])[0]
    return AuditReport(size, nodes, state.present, len(state.erased), checkpoints, root)
