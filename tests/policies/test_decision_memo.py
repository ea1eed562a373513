"""The memo of evaluations: a memoising engine answers exactly what evaluating afresh answers, for any records,
instants and categories; a withdrawal is enforced at once however warm the memo; the memo stays bounded.

The state is always read afresh (real store, real ledger); only the evaluation of what was read is memoised.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from gateway.demo.registry import demo_categories
from policies import ConsentRecord, ConsentStatus, DecisionEngine, Reason, SubjectContext
from policies.runtime import PolicyRuntime, open_policies
from policies.store import SqlState
from tests.policies.conftest import PSEUDONYM_KEY

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)
DEALER_SH = "dealer-sh-4s"
TWELVE = demo_categories()  # the demo upstream's record: twelve categories
PURPOSES = ["repair_prediction", "marketing", "joint_rnd"]
CATEGORIES = ["vehicle", "vehicle.vin", "contact", "contact.phone", "location.precise", "identity.national_id"]
RECIPIENTS = ["any", "any", "role:dealer", "role:rnd", f"org:{DEALER_SH}", "org:stuttgart-rnd", "org:bright-marketing"]


def _engine(url: str, rt: PolicyRuntime, *, memo_size: int) -> DecisionEngine:
    """An engine as a second gateway process would have: its own connections, its own caches."""
    return DecisionEngine(
        rt.taxonomy, SqlState(create_engine(url), taxonomy=rt.taxonomy, owned=True), memo_size=memo_size
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PolicyRuntime, DecisionEngine, DecisionEngine]]:
    """One database; a memoising engine that stays warm across examples, and a non-memoising one as the oracle."""
    url = f"sqlite:///{tmp_path_factory.mktemp('memo') / 'consentry.db'}"
    rt = open_policies(url, pseudonym_key=PSEUDONYM_KEY)
    memo, fresh = _engine(url, rt, memo_size=4_096), _engine(url, rt, memo_size=0)
    yield rt, memo, fresh
    memo.close()
    fresh.close()
    rt.close()


@pytest.fixture
def runtime_and_url(sqlite_url: str) -> Iterator[tuple[PolicyRuntime, str]]:
    rt = open_policies(sqlite_url, pseudonym_key=PSEUDONYM_KEY)
    yield rt, sqlite_url
    rt.close()


@dataclass(frozen=True)
class Spec:
    """One record: how it is granted and what happens to it afterwards (all through the real store)."""

    kind: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    recipients: tuple[str, ...]
    guardian: bool
    separate: bool
    cross_border: bool
    refused: bool
    from_hours: int
    valid_hours: int | None
    then: str  # "", "withdraw", "renew", "withdraw+give_again"


def _subset(items: list[str], most: int) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(items), min_size=1, max_size=most, unique=True).map(tuple)


SPECS = st.builds(
    Spec,
    kind=st.sampled_from(["consent", "consent", "consent", "objection", "opt_out"]),
    purposes=_subset(PURPOSES, 2),
    categories=_subset(CATEGORIES, 3),
    recipients=_subset(RECIPIENTS, 2),
    guardian=st.booleans(),
    separate=st.booleans(),
    cross_border=st.booleans(),
    refused=st.sampled_from([False, False, False, True]),
    from_hours=st.integers(0, 48),
    valid_hours=st.none() | st.integers(1, 48) | st.integers(1, 48),
    then=st.sampled_from(["", "", "withdraw", "renew", "withdraw+give_again"]),
)


Question = tuple[str, str, str, str, str, tuple[str, ...]]
ASKERS = [DEALER_SH, "stuttgart-rnd", "bright-marketing"]
CUSTOMER_TYPES = ["standard", "minor"]
JURISDICTIONS = ["CN", "EU", "DE", "US-CA"]
MODES = ["release", "predicate"]


def _question(purposes: list[str]) -> st.SearchStrategy[Question]:
    """Mostly about a purpose the records name (else no record is even read)."""
    return st.tuples(
        st.sampled_from(ASKERS),
        st.sampled_from(CUSTOMER_TYPES),
        st.sampled_from(JURISDICTIONS),
        st.sampled_from(purposes or PURPOSES),
        st.sampled_from(MODES),
        st.lists(st.sampled_from([*TWELVE, *CATEGORIES, "vehicle.colour"]), min_size=1, max_size=12).map(tuple),
    )


def _neighbours(question: Question) -> list[Question]:
    """The question and every question differing from it in one part: each part of the memo's key must count."""
    recipient, ctype, jurisdiction, purpose, mode, categories = question
    return [
        question,
        *((r, ctype, jurisdiction, purpose, mode, categories) for r in ASKERS if r != recipient),
        *((recipient, c, jurisdiction, purpose, mode, categories) for c in CUSTOMER_TYPES if c != ctype),
        *((recipient, ctype, j, purpose, mode, categories) for j in JURISDICTIONS if j != jurisdiction),
        *((recipient, ctype, jurisdiction, p, mode, categories) for p in PURPOSES if p != purpose),
        *((recipient, ctype, jurisdiction, purpose, m, categories) for m in MODES if m != mode),
        (recipient, ctype, jurisdiction, purpose, mode, categories[::-1]),
        (recipient, ctype, jurisdiction, purpose, mode, categories[:1]),
    ]


def _record(rt: PolicyRuntime, subject: str, spec: Spec) -> ConsentRecord:
    start = T0 + spec.from_hours * HOUR
    until = start + spec.valid_hours * HOUR if spec.valid_hours is not None else None
    record = rt.consents.grant(
        subject_id=subject,
        purposes=list(spec.purposes),
        categories=list(spec.categories),
        recipients=list(spec.recipients),
        jurisdiction="CN",
        actor="test",
        kind=spec.kind,
        given_by="guardian" if spec.guardian else "subject",
        separate=spec.separate,
        cross_border=spec.cross_border,
        valid_until=until,
        refused=spec.refused,
        at=start,
    )
    later = start + HOUR
    if "withdraw" in spec.then and not spec.refused:
        record = rt.consents.withdraw(record.record_id, actor="test", at=later)
    if spec.then == "renew" and not spec.refused:
        record = rt.consents.renew(record.record_id, actor="test", valid_until=later + 24 * HOUR, at=later)
    if spec.then.endswith("give_again"):
        record = rt.consents.give_again(record.record_id, actor="test", at=later + HOUR)
    return record


def _boundaries(records: list[ConsentRecord]) -> set[datetime]:
    """Every instant a decision can turn at, and the microsecond either side."""
    edges = {t for r in records for t in (r.valid_from, r.valid_until) if t is not None}
    return {e + d for e in edges for d in (-TICK, timedelta(0), TICK)}


@settings(max_examples=40)
@given(specs=st.lists(SPECS, max_size=4), data=st.data())
def test_a_memoised_decision_is_exactly_a_fresh_evaluation(
    world: tuple[PolicyRuntime, DecisionEngine, DecisionEngine], specs: list[Spec], data: st.DataObject
) -> None:
    """Random record sets and questions, asked at instants on, just before and just after every validity bound (so a
    memoised answer is offered for reuse across each bound), then again once every active record is withdrawn (which
    changes only the records' status and seq)."""
    rt, memo, fresh = world
    subject = f"s-{uuid.uuid4().hex}"
    records = [_record(rt, subject, spec) for spec in specs]
    base = data.draw(_question(sorted({p for spec in specs for p in spec.purposes})), label="question")
    instants = sorted(_boundaries(records) | {T0 - HOUR, T0 + 200 * HOUR})
    order = data.draw(st.permutations(instants), label="instants in asking order")

    def agree() -> None:
        for (recipient, ctype, jurisdiction, purpose, mode, categories), at in itertools.product(
            _neighbours(base), order
        ):
            who = SubjectContext(subject, ctype, jurisdiction)
            want = fresh.decide(recipient, who, categories, purpose, mode=mode, at=at)  # type: ignore[arg-type]
            got = memo.decide(recipient, who, categories, purpose, mode=mode, at=at)  # type: ignore[arg-type]
            assert got == want

    agree()
    active = [r for r in records if r.status in (ConsentStatus.GIVEN, ConsentStatus.RENEWED)]
    for record in active:
        rt.consents.withdraw(record.record_id, actor="test", at=T0 + 300 * HOUR)
    if active:
        agree()


def test_a_memoised_answer_is_reused_within_a_validity_window_and_dated_with_the_callers_instant(
    runtime_and_url: tuple[PolicyRuntime, str],
) -> None:
    rt, url = runtime_and_url
    engine = _engine(url, rt, memo_size=16)
    rt.consents.grant(
        subject_id="ann",
        purposes=["repair_prediction"],
        categories=["vehicle"],
        jurisdiction="CN",
        actor="a",
        at=T0,
        valid_until=T0 + 24 * HOUR,
    )
    ann = SubjectContext("ann", "standard", "CN")

    def ask(at: datetime) -> tuple[datetime, tuple[Reason, ...], object]:
        d = engine.decide(DEALER_SH, ann, ["vehicle.vin"], "repair_prediction", at=at)
        return d.at, d.of("vehicle.vin").reasons, d.categories

    first_at, first_reasons, first = ask(T0 + HOUR)
    again_at, again_reasons, again = ask(T0 + 2 * HOUR)
    assert (first_reasons, again_reasons) == ((Reason.MATRIX_ALLOW, Reason.CONSENT),) * 2
    assert (first_at, again_at) == (T0 + HOUR, T0 + 2 * HOUR) and again is first
    assert ask(T0 + 24 * HOUR)[1] == (Reason.MATRIX_ALLOW, Reason.CONSENT_EXPIRED)
    assert ask(T0 - TICK)[1] == (Reason.MATRIX_ALLOW, Reason.NO_CONSENT)
    assert ask(T0 + 24 * HOUR - TICK)[1] == (Reason.MATRIX_ALLOW, Reason.CONSENT)
    engine.close()


def test_a_withdrawal_is_enforced_at_once_however_warm_the_memo(runtime_and_url: tuple[PolicyRuntime, str]) -> None:
    rt, url = runtime_and_url
    engine = _engine(url, rt, memo_size=16)
    bob = SubjectContext("bob", "standard", "CN")
    record = rt.consents.grant(
        subject_id="bob",
        purposes=["repair_prediction"],
        categories=["vehicle", "contact.phone"],
        jurisdiction="CN",
        actor="b",
    )

    def allowed() -> tuple[str, ...]:
        return engine.decide(DEALER_SH, bob, TWELVE, "repair_prediction").allowed

    for _ in range(5):
        assert set(allowed()) == {"contact.phone", "vehicle.vin", "vehicle.mileage", "vehicle.fault_codes"}
    rt.consents.withdraw(record.record_id, actor="customer:bob")
    assert allowed() == ()
    assert engine.decide(DEALER_SH, bob, ["vehicle.vin"], "repair_prediction").of("vehicle.vin").reasons == (
        Reason.MATRIX_ALLOW,
        Reason.CONSENT_WITHDRAWN,
    )
    rt.consents.give_again(record.record_id, actor="customer:bob")
    assert set(allowed()) == {"contact.phone", "vehicle.vin", "vehicle.mileage", "vehicle.fault_codes"}
    engine.close()


def test_the_memo_stays_bounded_and_answers_correctly_past_its_bound(
    runtime_and_url: tuple[PolicyRuntime, str],
) -> None:
    rt, url = runtime_and_url
    bounded, fresh = _engine(url, rt, memo_size=3), _engine(url, rt, memo_size=0)
    rt.consents.grant(
        subject_id="cai", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="c"
    )
    cai = SubjectContext("cai", "standard", "CN")
    questions = [TWELVE[i : i + 3] for i in range(10)] * 2
    for categories in questions:
        at = T0 + HOUR
        got = bounded.decide(DEALER_SH, cai, categories, "repair_prediction", at=at)
        assert got == fresh.decide(DEALER_SH, cai, categories, "repair_prediction", at=at)
        snapshot = bounded._snapshot
        assert snapshot is not None and len(snapshot.decisions) <= 3
    bounded.close()
    fresh.close()


def test_a_policy_change_starts_a_new_memo(runtime_and_url: tuple[PolicyRuntime, str]) -> None:
    rt, url = runtime_and_url
    engine = _engine(url, rt, memo_size=16)
    rt.consents.grant(
        subject_id="dan", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="d"
    )
    dan = SubjectContext("dan", "standard", "CN")
    assert engine.decide(DEALER_SH, dan, ["vehicle.vin"], "repair_prediction").of("vehicle.vin").allowed
    rt.matrix.change(actor="admin:a", remove=["dealer-vehicle-repair"])
    got = engine.decide(DEALER_SH, dan, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
    assert (got.allowed, got.reasons[0]) == (False, Reason.NO_MATCHING_RULE)
    engine.close()
