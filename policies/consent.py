"""Consent records (ISO/IEC TS 27560 information structure, W3C DPV consent statuses) as pure values.

A record's current state is the fold of its event history (`apply_event`); the store keeps both, writing the folded
state in the same transaction as each event, so the state is by construction what the history says.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from policies.errors import ConsentError
from policies.taxonomy import Taxonomy

ANY_RECIPIENT = "any"
ALL_CATEGORIES = "*"


class ConsentStatus(StrEnum):
    """DPV consent statuses (dpv:ConsentGiven, ConsentRenewed, ConsentRefused, ConsentWithdrawn, ConsentExpired,
    ConsentInvalidated)."""

    GIVEN = "given"
    RENEWED = "renewed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"


class RecordKind(StrEnum):
    """`consent` is permission; `objection` (GDPR Art. 21) and `opt_out` (CCPA sale/share) are refusals of a
    processing that needs no consent; `limit_sensitive` (CPRA, Cal. Civ. Code 1798.121) limits the use of sensitive
    categories to what the service itself needs; `restriction` (GDPR Art. 18, PIPL Art. 44) stops every use that
    rests on neither consent nor a duty of law. All share the record structure and the given/withdrawn lifecycle."""

    CONSENT = "consent"
    OBJECTION = "objection"
    OPT_OUT = "opt_out"
    LIMIT_SENSITIVE = "limit_sensitive"
    RESTRICTION = "restriction"  # GDPR Art. 18, PIPL Art. 44: the data may be kept, not used


class CollectionMethod(StrEnum):
    PORTAL = "portal"
    API = "api"
    WALLET = "wallet"
    IMPORT = "import"
    GPC = "gpc"  # a Global Privacy Control signal (`Sec-GPC: 1`) sent by the customer's browser or agent


class GivenBy(StrEnum):
    SUBJECT = "subject"
    GUARDIAN = "guardian"


ACTIVE = frozenset({ConsentStatus.GIVEN, ConsentStatus.RENEWED})
_NEXT: Mapping[ConsentStatus | None, frozenset[ConsentStatus]] = {
    None: frozenset({ConsentStatus.GIVEN, ConsentStatus.REFUSED}),
    ConsentStatus.GIVEN: frozenset(
        {ConsentStatus.RENEWED, ConsentStatus.WITHDRAWN, ConsentStatus.EXPIRED, ConsentStatus.INVALIDATED}
    ),
    ConsentStatus.RENEWED: frozenset(
        {ConsentStatus.RENEWED, ConsentStatus.WITHDRAWN, ConsentStatus.EXPIRED, ConsentStatus.INVALIDATED}
    ),
    ConsentStatus.REFUSED: frozenset({ConsentStatus.GIVEN, ConsentStatus.INVALIDATED}),
    ConsentStatus.WITHDRAWN: frozenset({ConsentStatus.GIVEN, ConsentStatus.INVALIDATED}),
    ConsentStatus.EXPIRED: frozenset({ConsentStatus.GIVEN, ConsentStatus.INVALIDATED}),
    ConsentStatus.INVALIDATED: frozenset(),
}
# Fields a (re-)given or renewed event may set; the record's scope (subject, purposes, categories, recipients,
# kind) is fixed at creation: a different scope is a different consent (PIPL Art. 14).
# The exact cells shown (`cells`) follow the agreement a re-given consent cites.
_MUTABLE = frozenset(
    {"notice", "method", "given_by", "valid_until", "purpose_revisions", "separate", "cross_border", "cells"}
)
# A cell a consent covers: (customer type, category, purpose, recipient id, mode), as the agreement listed it.
Cell = tuple[str, str, str, str, str]
# The cell modes that cover a requested mode: an agreement that listed a release also told of every yes/no answer.
_COVERING_MODES = {"release": ("release",), "predicate": ("release", "predicate"), "aggregate": ("aggregate",)}


@dataclass(frozen=True)
class Notice:
    """The notice the customer saw: its id, version and the SHA-256 of its exact text."""

    id: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ConsentRecord:
    """The current state of one record, with the ledger index of the event that produced it."""

    record_id: str
    subject_id: str
    controller: str
    kind: RecordKind
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    jurisdiction: str
    legal_basis: str
    notice: Notice | None
    method: CollectionMethod
    given_by: GivenBy
    separate: bool
    cross_border: bool
    purpose_revisions: Mapping[str, int]
    status: ConsentStatus
    valid_from: datetime
    valid_until: datetime | None
    event_time: datetime
    seq: int = 0
    ledger_index: int | None = None
    # The cells of the agreement the customer accepted (PIPL Art. 14, GDPR Art. 7: specific consent), sorted; None
    # for a record whose scope was not recorded (refusals of another basis, records older than issue 14).
    cells: tuple[Cell, ...] | None = None

    def covers_cell(self, customer_type: str, category: str, purpose: str, recipient_id: str, mode: str) -> bool:
        """Whether the agreement this record cites listed the cell: a later widening of the matrix is not in it."""
        if self.cells is None:
            return True
        listed = _cell_set(self.cells)
        return any((customer_type, category, purpose, recipient_id, m) in listed for m in _COVERING_MODES[mode])

    def active_at(self, at: datetime) -> bool:
        return self.status in ACTIVE and self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def status_at(self, at: datetime) -> ConsentStatus:
        """The status as a decision sees it: a given consent past its validity is expired."""
        if self.status in ACTIVE and self.valid_until is not None and at >= self.valid_until:
            return ConsentStatus.EXPIRED
        return self.status

    def covers_category(self, lineage: Sequence[str]) -> bool:
        return any(c == ALL_CATEGORIES or c in lineage for c in self.categories)

    def covers_recipient(self, recipient_id: str, role: str) -> bool:
        return any(r in (ANY_RECIPIENT, f"org:{recipient_id}", f"role:{role}") for r in self.recipients)


@dataclass(frozen=True)
class ConsentEvent:
    """One entry of a record's history. `changes` holds the full scope for the first event, the changed fields
    otherwise."""

    record_id: str
    seq: int
    status: ConsentStatus
    time: datetime
    actor: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    ledger_index: int | None = None


def apply_event(state: ConsentRecord | None, event: ConsentEvent) -> ConsentRecord:
    """The record after `event`; raises `ConsentError` for a transition the lifecycle forbids."""
    current = state.status if state is not None else None
    if event.status not in _NEXT[current]:
        where = "a new record" if current is None else f"a {current.value} record"
        raise ConsentError("status", f"cannot move {where} to {event.status.value}")
    changes = dict(event.changes)
    if changes.get("cells") is not None:  # lists when replayed from the stored JSON history
        changes["cells"] = tuple(sorted(tuple(cell) for cell in changes["cells"]))
    if state is None:
        try:
            return ConsentRecord(
                record_id=event.record_id,
                status=event.status,
                event_time=event.time,
                seq=event.seq,
                ledger_index=event.ledger_index,
                **changes,
            )
        except TypeError as exc:
            raise ConsentError("changes", f"incomplete first event: {exc}") from exc
    unknown = set(changes) - _MUTABLE
    if unknown:
        raise ConsentError(sorted(unknown)[0], "is fixed when the record is created")
    if event.time < state.event_time:
        raise ConsentError("time", "an event cannot precede the record's latest event")
    updates: dict[str, Any] = changes
    if event.status is ConsentStatus.GIVEN:
        updates.setdefault("valid_from", event.time)
    return replace(
        state, status=event.status, event_time=event.time, seq=event.seq, ledger_index=event.ledger_index, **updates
    )


def fold(events: Iterable[ConsentEvent]) -> ConsentRecord:
    """Derive the current state from a record's full history."""
    state: ConsentRecord | None = None
    for event in events:
        state = apply_event(state, event)
    if state is None:
        raise ConsentError("history", "a record needs at least one event")
    return state


def retention_end(taxonomy: Taxonomy, record: ConsentRecord) -> tuple[datetime, str] | None:
    """When a given consent stops being in force and the purpose whose period ends it (None: nothing ends it):
    the shortest consent retention period of its purposes, counted from when it was last given or renewed, or
    its own `valid_until` if earlier. The one definition both the decision's view (`in_force`) and the
    retention sweep that records the lapse use, so they never disagree on the date."""
    return _end(taxonomy, record.purposes, record.event_time, record.valid_until)


def _end(
    taxonomy: Taxonomy, purposes: Sequence[str], given: datetime, valid_until: datetime | None
) -> tuple[datetime, str] | None:
    ends = []
    for purpose in purposes:
        rule = taxonomy.purposes[purpose].retention.get("consent") if purpose in taxonomy.purposes else None
        if rule is not None:
            ends.append((given + timedelta(days=rule.days), purpose))
    if valid_until is not None:
        ends.append((valid_until, min(purposes)))
    return min(ends) if ends else None


def in_force_until(
    taxonomy: Taxonomy,
    kind: RecordKind,
    status: ConsentStatus,
    purposes: Sequence[str],
    given: datetime,
    valid_until: datetime | None,
) -> datetime | None:
    """The end of validity a decision must read: a given consent whose retention period has run out is past its
    validity at once, not only once the periodic sweep has recorded it as expired (fail closed between sweeps).
    Only consents lapse: an objection, opt-out or restriction that lapsed here would release data. Taken field
    by field so the decisions' state reader applies it while it builds a record, not by copying one."""
    if kind is not RecordKind.CONSENT or status not in ACTIVE:
        return valid_until
    end = _end(taxonomy, purposes, given, valid_until)
    return valid_until if end is None else end[0]


def in_force(taxonomy: Taxonomy, record: ConsentRecord) -> ConsentRecord:
    """The record as a decision reads it (`in_force_until`)."""
    until = in_force_until(taxonomy, record.kind, record.status, record.purposes, record.event_time, record.valid_until)
    return record if until == record.valid_until else replace(record, valid_until=until)


@functools.lru_cache(maxsize=1024)
def _cell_set(cells: tuple[Cell, ...]) -> frozenset[Cell]:
    """Few distinct scopes across many records (every customer accepts the same agreement), so the sets are shared."""
    return frozenset(cells)


def utcnow() -> datetime:
    return datetime.now(UTC)
