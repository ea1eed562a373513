"""The decision: enterprise matrix AND legal basis AND the special rules, per data category, with reasons.

Fast path: the matrix's answer depends only on (role, customer type, category, purpose, mode) and the matrix
version, so it is cached per version. Consents are never cached: each decision reads the subject's records for the
purpose and the current matrix version in ONE indexed query, so a withdrawal or a policy change committed by any
process sharing the database is seen by the very next decision (no stale allow, no invalidation messages).

What is memoised is the evaluation of that fresh state: given the records just read, a decision is a pure function
of the question, the matrix version, the records' exact versions and where `at` falls among the records' validity
bounds. Any change to a record gives it a new sequence number, hence a new key, so a memoised answer is only ever
reused for the very state it was computed from.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from policies.consent import ConsentRecord, ConsentStatus, GivenBy, RecordKind
from policies.decision import CategoryDecision, ConsentRef, Decision, Reason, SubjectContext
from policies.enforcer import IndexedEnforcer, MatrixOutcome
from policies.errors import PolicyError
from policies.matrix import MatrixRule
from policies.taxonomy import DEFAULT_TAXONOMY, CustomerType, Jurisdiction, LegalBasis, Purpose, Recipient, Taxonomy

_STATUS_REASON = {
    ConsentStatus.REFUSED: Reason.CONSENT_REFUSED,
    ConsentStatus.WITHDRAWN: Reason.CONSENT_WITHDRAWN,
    ConsentStatus.EXPIRED: Reason.CONSENT_EXPIRED,
    ConsentStatus.INVALIDATED: Reason.CONSENT_INVALIDATED,
}


# CPRA 1798.121(a): a limit on sensitive data leaves the uses the service itself needs (and the law demands).
_NEEDED_FOR_THE_SERVICE = frozenset({LegalBasis.CONTRACT, LegalBasis.LEGAL_OBLIGATION, LegalBasis.VITAL_INTEREST})

# GDPR Art. 18(2): restricted data is processed only with consent, for legal claims, to protect another person or
# for an important public interest; a contract, a legitimate interest or a mere notice no longer suffice.
_RESTRICTABLE = frozenset({LegalBasis.CONTRACT, LegalBasis.LEGITIMATE_INTEREST, LegalBasis.NOTICE})

# The enforcer's reason strings as the codes a decision carries (a dict lookup is cheaper than the enum's call).
_MATRIX_REASON = {r.value: r for r in (Reason.MATRIX_ALLOW, Reason.MATRIX_DENY, Reason.NO_MATCHING_RULE)}

DecisionMode = Literal["release", "predicate", "aggregate"]
_MODES = ("release", "predicate", "aggregate")


def _instant(mode: str, at: datetime | None) -> datetime:
    if mode not in _MODES:
        raise PolicyError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    when = at if at is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise PolicyError("'at' must be timezone-aware (UTC)")
    return when


class StateSource(Protocol):
    """Where decisions read consents and the matrix (the SQL store in production)."""

    def read(self, subject_id: str, purpose: str) -> tuple[int, Sequence[ConsentRecord]]:
        """The current matrix version and every record of the subject that names the purpose, read together.

        A record's (record_id, seq) must identify its whole content: the engine memoises evaluations by it."""
        ...

    def read_many(self, subject_ids: Sequence[str], purpose: str) -> tuple[int, Mapping[str, Sequence[ConsentRecord]]]:
        """`read` for many subjects in one round trip (a subject with no record maps to nothing)."""
        ...

    def matrix_rules(self, version: int) -> Sequence[MatrixRule]: ...

    def close(self) -> None: ...


# A memo key: the question (recipient, customer type, jurisdiction, purpose, mode, categories in order) and, for
# each record in the order read (ties and the cross-border pick depend on it), (record id, sequence number,
# valid_from <= at, at < valid_until). Id and sequence number fix every field of the record; the two comparisons are
# the only ways `at` enters a decision (`active_at`, `status_at`), so an answer is reused for another instant only
# when no validity bound lies between the two. The taxonomy is fixed per engine, the matrix per snapshot.
_RecordKey = tuple[str, int, bool, bool]
_DecisionKey = tuple[str, str, str, str, str, tuple[str, ...], tuple[_RecordKey, ...]]


@dataclass
class _Snapshot:
    version: int
    enforcer: IndexedEnforcer
    outcomes: dict[tuple[str, str, str, str, str], MatrixOutcome]
    decisions: dict[_DecisionKey, tuple[CategoryDecision, ...]] = field(default_factory=dict)


class _Context(NamedTuple):
    """The question's resolved names, built on every decision: a tuple because it is cheaper to build than a frozen
    dataclass, and as immutable."""

    recipient: Recipient
    customer_type: CustomerType
    jurisdiction: Jurisdiction
    purpose: Purpose
    basis: LegalBasis | None
    cross_border: bool
    at: datetime


class DecisionEngine:
    """Thread-safe; one per process is enough. `decide` is what the gateway calls on every request."""

    def __init__(
        self, taxonomy: Taxonomy, state: StateSource, *, cache_size: int = 262_144, memo_size: int = 4_096
    ) -> None:
        """`cache_size` bounds the per-version matrix-outcome cache; 0 evaluates Casbin on every decision.
        `memo_size` bounds the per-version memo of whole evaluations; 0 evaluates every category every time."""
        self._taxonomy = taxonomy
        self._state = state
        self._cache_size = cache_size
        self._memo_size = memo_size
        self._lock = threading.Lock()
        self._memo_lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    @property
    def taxonomy(self) -> Taxonomy:
        """Fixed for the engine's life (a frozen value), so memoised evaluations never outlive it."""
        return self._taxonomy

    @classmethod
    def open(cls, url: str, taxonomy: Taxonomy | Path | str = DEFAULT_TAXONOMY) -> DecisionEngine:
        """An engine over the policies tables at `url` (run `policies.upgrade` first)."""
        from sqlalchemy import create_engine

        from policies.store import SqlState
        from policies.taxonomy import load_taxonomy

        tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        return cls(tax, SqlState(create_engine(url), taxonomy=tax, owned=True))

    def decide(
        self,
        recipient: str,
        subject: SubjectContext,
        categories: Sequence[str],
        purpose: str,
        *,
        mode: DecisionMode = "release",
        at: datetime | None = None,
    ) -> Decision:
        """Decide each category; raises `UnknownNameError` for an unknown recipient, purpose, customer type or
        jurisdiction (a malformed request), while an unknown category is simply refused.

        `at` (default now, timezone-aware) is the instant validity windows are judged at, against the records'
        current states: it answers "is this consent still valid then?", not a replay of past withdrawals.
        """
        when = _instant(mode, at)
        version, records = self._state.read(subject.id, purpose)
        return self._decide(self._matrix(version), recipient, subject, records, tuple(categories), purpose, mode, when)

    def admit_many(
        self,
        recipient: str,
        subjects: Sequence[SubjectContext],
        categories: Sequence[str],
        purpose: str,
        *,
        mode: DecisionMode = "aggregate",
        at: datetime | None = None,
    ) -> list[bool]:
        """For each subject, whether every category is allowed (`decide`'s answer without its evidence), their
        consents read in one round trip and judged against one matrix version: how an aggregate chooses its cohort
        among millions, page by page. Subjects whose records read the same to a decision (`_shape`) share one
        evaluation, so the cost per subject is the read, not the evaluation."""
        when = _instant(mode, at)
        version, found = self._state.read_many([s.id for s in subjects], purpose)
        snap = self._matrix(version)
        asked = tuple(categories)
        shapes: dict[tuple[object, ...], bool] = {}
        out = []
        for subject in subjects:
            records = found.get(subject.id, ())
            key = (subject.customer_type, subject.jurisdiction, _shape(records, when))
            allowed = shapes.get(key)
            if allowed is None:
                decision = self._decide(snap, recipient, subject, records, asked, purpose, mode, when)
                allowed = shapes[key] = not decision.withheld
            out.append(allowed)
        return out

    def _decide(
        self,
        snap: _Snapshot,
        recipient: str,
        subject: SubjectContext,
        records: Sequence[ConsentRecord],
        asked: tuple[str, ...],
        purpose: str,
        mode: str,
        when: datetime,
    ) -> Decision:
        tax = self._taxonomy
        rec = tax.recipient(recipient)
        ctype = tax.customer_type(subject.customer_type)
        jur = tax.jurisdiction(subject.jurisdiction)
        pur = tax.purpose(purpose)
        ctx = _Context(
            recipient=rec,
            customer_type=ctype,
            jurisdiction=jur,
            purpose=pur,
            basis=tax.legal_basis(pur.id, jur.id, ctype.id),
            cross_border=jur.separate_consent_for_cross_border and rec.jurisdiction != jur.id,
            at=when,
        )
        if self._memo_size > 0:
            out = self._memoised(snap, ctx, records, asked, mode)
        else:
            out = self._evaluate(snap, ctx, records, asked, mode)
        # Memoised categories carry no instant: the decision is dated with this caller's `at`.
        return Decision(recipient, purpose, mode, when, snap.version, out)

    def close(self) -> None:
        """Release the state source's connections (the engine is unusable afterwards)."""
        self._state.close()

    def matrix_version(self) -> int:
        """The version the last decision used (0 before any decision or when no matrix is stored)."""
        snap = self._snapshot
        return snap.version if snap is not None else 0

    def _matrix(self, version: int) -> _Snapshot:
        snap = self._snapshot
        if snap is not None and snap.version >= version:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.version < version:
                snap = _Snapshot(version, IndexedEnforcer(self._state.matrix_rules(version)), {})
                self._snapshot = snap
        return snap

    def _memoised(
        self, snap: _Snapshot, ctx: _Context, records: Sequence[ConsentRecord], categories: tuple[str, ...], mode: str
    ) -> tuple[CategoryDecision, ...]:
        at = ctx.at
        key = (
            ctx.recipient.id,
            ctx.customer_type.id,
            ctx.jurisdiction.id,
            ctx.purpose.id,
            mode,
            categories,
            tuple(
                (r.record_id, r.seq, r.valid_from <= at, r.valid_until is None or at < r.valid_until) for r in records
            ),
        )
        out = snap.decisions.get(key)
        if out is None:
            out = self._evaluate(snap, ctx, records, categories, mode)
            with self._memo_lock:
                if len(snap.decisions) >= self._memo_size:
                    snap.decisions.clear()
                snap.decisions[key] = out
        return out

    def _evaluate(
        self, snap: _Snapshot, ctx: _Context, records: Sequence[ConsentRecord], categories: Sequence[str], mode: str
    ) -> tuple[CategoryDecision, ...]:
        return tuple(self._category(snap, ctx, records, c, mode) for c in categories)

    def _matrix_outcome(
        self, snap: _Snapshot, ctx: _Context, category: str, lineage: tuple[str, ...], mode: str
    ) -> MatrixOutcome:
        if self._cache_size <= 0:
            return snap.enforcer.evaluate(ctx.recipient.role, ctx.customer_type.id, lineage, ctx.purpose.id, mode)
        key = (ctx.recipient.role, ctx.customer_type.id, category, ctx.purpose.id, mode)
        outcome = snap.outcomes.get(key)
        if outcome is None:
            outcome = snap.enforcer.evaluate(key[0], key[1], lineage, key[3], mode)
            if len(snap.outcomes) >= self._cache_size:
                snap.outcomes.clear()
            snap.outcomes[key] = outcome
        return outcome

    def _category(
        self, snap: _Snapshot, ctx: _Context, records: Sequence[ConsentRecord], category: str, mode: str
    ) -> CategoryDecision:
        if category not in self._taxonomy.categories:
            return CategoryDecision(category, False, (Reason.UNKNOWN_CATEGORY,))
        lineage = self._taxonomy.lineage(category)
        matrix = self._matrix_outcome(snap, ctx, category, lineage, mode)
        reasons: list[Reason] = [_MATRIX_REASON[matrix.reason]]
        rule = matrix.rule.id if matrix.rule is not None else None
        basis = ctx.basis
        if basis is None:
            reasons.append(Reason.NO_LEGAL_BASIS)
            return CategoryDecision(category, False, tuple(reasons), rule)
        mine = [r for r in records if r.covers_category(lineage)]
        consent: ConsentRecord | None = None
        if basis is LegalBasis.CONSENT:
            # The cells a record lists are asked only of a flow the matrix allows: a refused one was never listed.
            consent, failures = self._consent(ctx, mine, category, mode if matrix.allowed else None)
            failures.extend(self._refusals(ctx, mine, basis, category))
        else:
            failures = self._refusals(ctx, mine, basis, category)
            if not failures and ctx.cross_border:
                consent, failures = self._cross_border(ctx, mine)
        ok = matrix.allowed and not failures
        if ok:
            reasons.append(Reason.CONSENT if basis is LegalBasis.CONSENT else Reason.LEGAL_BASIS)
        reasons.extend(failures)
        ref = ConsentRef(consent.record_id, consent.ledger_index) if consent is not None else None
        return CategoryDecision(category, ok, tuple(reasons), rule, basis.value, ref)

    def _consent(
        self, ctx: _Context, records: Sequence[ConsentRecord], category: str, mode: str | None
    ) -> tuple[ConsentRecord | None, list[Reason]]:
        covering = [r for r in records if r.kind is RecordKind.CONSENT and self._for_recipient(ctx, r)]
        if not covering:
            return None, [Reason.NO_CONSENT]
        # Only what the accepted agreement listed: a cell the matrix allowed later awaits a fresh consent.
        listed = [
            r
            for r in covering
            if mode is None or r.covers_cell(ctx.customer_type.id, category, ctx.purpose.id, ctx.recipient.id, mode)
        ]
        if not listed:
            if any(r.active_at(ctx.at) for r in covering):
                return None, [Reason.CONSENT_SCOPE_CHANGED]
            listed = covering  # every consent ended anyway: say how
        covering = listed
        valid = [r for r in covering if r.active_at(ctx.at)]
        if not valid:
            latest = max(covering, key=lambda r: r.event_time)
            return None, [_STATUS_REASON.get(latest.status_at(ctx.at), Reason.NO_CONSENT)]
        cat = self._taxonomy.category(category)
        jur = ctx.jurisdiction
        sensitive = cat.sensitive or (ctx.customer_type.minor and jur.minors_data_sensitive)
        best: tuple[ConsentRecord, list[Reason]] | None = None
        for record in sorted(valid, key=lambda r: r.event_time, reverse=True):
            failures = []
            if (
                sensitive
                and jur.separate_consent_for_sensitive
                and not (record.separate and category in record.categories)
            ):
                failures.append(Reason.SEPARATE_CONSENT_REQUIRED)
            if ctx.cross_border and not _cross_border_ok(ctx, record):
                failures.append(Reason.CROSS_BORDER_CONSENT_REQUIRED)
            if ctx.customer_type.minor and record.given_by is not GivenBy.GUARDIAN:
                failures.append(Reason.GUARDIAN_CONSENT_REQUIRED)
            if jur.fresh_consent_on_change and record.purpose_revisions.get(ctx.purpose.id, 0) < ctx.purpose.revision:
                failures.append(Reason.FRESH_CONSENT_REQUIRED)
            if not failures:
                return record, []
            if best is None or len(failures) < len(best[1]):
                best = (record, failures)
        assert best is not None
        return None, best[1]

    def _refusals(
        self, ctx: _Context, records: Sequence[ConsentRecord], basis: LegalBasis, category: str
    ) -> list[Reason]:
        """Objection (GDPR Art. 21) defeats the bases the jurisdiction lets a customer object to; an opt-out of
        sale/share (CCPA 1798.120, a Global Privacy Control signal) defeats every basis, consent included: it is the
        customer's latest word on selling, and they opt back in by withdrawing it. A limit on sensitive data (CPRA
        1798.121) refuses sensitive categories to every use but those the service needs; a restriction (GDPR Art.
        18, PIPL Art. 44) every use resting on a contract, a legitimate interest or a notice."""
        jur = ctx.jurisdiction
        failures = []
        active = [r for r in records if r.active_at(ctx.at) and self._for_recipient(ctx, r)]
        if basis in jur.objection_to and any(r.kind is RecordKind.OBJECTION for r in active):
            failures.append(Reason.OBJECTION)
        if ctx.purpose.sale_or_share and jur.opt_out_of_sale and any(r.kind is RecordKind.OPT_OUT for r in active):
            failures.append(Reason.OPT_OUT_OF_SALE)
        if (
            basis not in _NEEDED_FOR_THE_SERVICE
            and self._taxonomy.categories[category].sensitive
            and any(r.kind is RecordKind.LIMIT_SENSITIVE for r in active)
        ):
            failures.append(Reason.SENSITIVE_USE_LIMITED)
        if (
            jur.restriction_of_processing
            and basis in _RESTRICTABLE
            and any(r.kind is RecordKind.RESTRICTION for r in active)
        ):
            failures.append(Reason.PROCESSING_RESTRICTED)
        return failures

    def _cross_border(
        self, ctx: _Context, records: Sequence[ConsentRecord]
    ) -> tuple[ConsentRecord | None, list[Reason]]:
        for record in records:
            if record.kind is RecordKind.CONSENT and record.active_at(ctx.at) and _cross_border_ok(ctx, record):
                return record, []
        return None, [Reason.CROSS_BORDER_CONSENT_REQUIRED]

    @staticmethod
    def _for_recipient(ctx: _Context, record: ConsentRecord) -> bool:
        return record.covers_recipient(ctx.recipient.id, ctx.recipient.role)


def _shape(records: Sequence[ConsentRecord], at: datetime) -> tuple[object, ...]:
    """Everything an evaluation reads of the records, in the order read, without what names them: scope, kind,
    status, flags, revisions, where `at` falls in each validity window, and each record's rank by event time (the
    evaluation sorts and picks the latest by it; equal times share a rank, and ties go by the order read)."""
    times = sorted({r.event_time for r in records})
    return tuple(
        (
            r.kind,
            r.categories,
            r.recipients,
            r.status,
            r.given_by,
            r.separate,
            r.cross_border,
            r.cells,
            tuple(sorted(r.purpose_revisions.items())),
            r.valid_from <= at,
            r.valid_until is None or at < r.valid_until,
            times.index(r.event_time),
        )
        for r in records
    )


def _cross_border_ok(ctx: _Context, record: ConsentRecord) -> bool:
    """PIPL Art. 39: the customer must have been told the foreign recipient's name, so the separate consent names
    that organisation, not a role."""
    return record.cross_border and f"org:{ctx.recipient.id}" in record.recipients
