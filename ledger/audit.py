"""The auditor's rules, applied to a log's data however it was obtained: read from a database or fetched.

Nothing is taken on trust. An entry must be a canonical envelope; its payload must hash to what the entry
commits to, or have been deleted by a later erasure of its subject; a stored node must be the hash of its
two children; and a signed tree head must equal the root recomputed here from the leaves themselves.
Each rule raises `TamperError` naming the first thing that does not hold. The rules read no storage, so an
auditor holding only entries and checkpoints uses them as the database audit (`ledger.store.audit`) does.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.checkpoint import Checkpoint
from ledger.envelope import ERASURE_TYPE, canonical_json, parse_envelope, payload_hash
from ledger.errors import EventError, LedgerError, TamperError
from ledger.rfc9162 import EMPTY_ROOT, leaf_hash, node_hash
from ledger.tree import Frontier


@dataclass(frozen=True)
class AuditReport:
    """What an audit covered: all of it held."""

    size: int
    nodes: int
    payloads: int
    erased_payloads: int
    checkpoints: int
    root: bytes


def node_where(level: int, index: int) -> str:
    return f"node (level {level}, index {index})"


def check_entry(index: int, data: bytes) -> dict[str, Any]:
    """The entry's envelope; the data must be exactly one canonical envelope, as the log wrote it."""
    try:
        return parse_envelope(data)
    except EventError as exc:
        raise TamperError(f"entry {index}", str(exc)) from exc


def check_level(level: int, stored: Mapping[int, bytes], children: Mapping[int, bytes], start: int, end: int) -> None:
    """Nodes (level, start..end-1) must all be present, each the hash of its two children one level down."""
    for index in range(start, end):
        if index not in stored:
            raise TamperError(node_where(level, index), "missing (deleted)")
        expected = node_hash(children[2 * index], children[2 * index + 1])
        if not hmac.compare_digest(stored[index], expected):
            raise TamperError(node_where(level, index), "differs from the hash of its two children")


class TreeReplay:
    """The RFC 9162 tree head recomputed from the leaves in index order, in memory logarithmic in the size.

    The roots at the sizes in `keep` are remembered as the replay passes them, so the signed checkpoints of
    every earlier size are checked against the leaves after a single pass over the log.
    """

    def __init__(self, keep: Iterable[int] = ()) -> None:
        self._frontier = Frontier(0, [])
        self._keep = frozenset(keep)
        self._roots = {0: EMPTY_ROOT}

    @property
    def size(self) -> int:
        return self._frontier.size

    def append(self, data: bytes) -> bytes:
        """Add the next entry's data; returns its leaf hash."""
        leaf = leaf_hash(data)
        self._frontier.append(leaf)
        if self._frontier.size in self._keep:
            self._roots[self._frontier.size] = self._frontier.root()
        return leaf

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all replayed so far)."""
        if size is None or size == self.size:
            return self._frontier.root()
        if size not in self._roots:
            raise LedgerError(f"the replay did not keep the root at size {size}")
        return self._roots[size]


def check_tree_head(where: str, checkpoint: Checkpoint, replay: TreeReplay) -> None:
    """A signed tree head must be one the replayed leaves produce: within the log, with their root at its size."""
    if checkpoint.size > replay.size:
        raise TamperError(where, f"signed size {checkpoint.size} is beyond the log's size {replay.size}")
    if not hmac.compare_digest(replay.root(checkpoint.size), checkpoint.root):
        raise TamperError(where, f"signed root differs from the recomputed root at size {checkpoint.size}")


@dataclass
class PayloadAudit:
    """Payloads kept beside the log, seen in entry order; `finish` applies the erasure rules at the end."""

    present: int = 0
    erased: list[tuple[int, str | None]] = field(default_factory=list)
    _first_present: dict[str | None, int] = field(default_factory=dict)
    _last_erasure: dict[str, int] = field(default_factory=dict)

    def check(self, index: int, envelope: Mapping[str, object], row: tuple[bytes, bytes, str | None] | None) -> None:
        """The entry's stored (salt, payload, subject), or None when nothing is stored for it."""
        where = f"payload of entry {index}"
        expected = envelope["payload_hash"]
        subject = envelope["subject"]
        if envelope["type"] == ERASURE_TYPE and isinstance(subject, str):
            self._last_erasure[subject] = index
        if row is None:
            if expected is not None:
                self.erased.append((index, subject if isinstance(subject, str) else None))
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
        self.present += 1
        self._first_present.setdefault(stored_subject, index)

    def finish(self) -> None:
        """A missing payload needs a later erasure of its subject; after an erasure none of its subject remains."""
        for index, subject in self.erased:
            erased_at = self._last_erasure.get(subject) if subject is not None else None
            if erased_at is None or erased_at < index:
                raise TamperError(f"payload of entry {index}", "missing, and no later erasure entry of its subject")
        for subject, first in self._first_present.items():
            if subject is not None and self._last_erasure.get(subject, -1) > first:
                raise TamperError(f"payload of entry {first}", "still stored after its subject was erased")
