"""The decision semantics of issue 3, table-driven: every row of "Done when", against the real store and ledger.

Each row records consent events through `ConsentStore` (so each is a ledger entry) for its own subject, then asks
the engine one question and checks the answer and its reason codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policies import Reason, SubjectContext
from policies.runtime import PolicyRuntime, open_policies
from tests.policies.conftest import PSEUDONYM_KEY

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
R = Reason


@dataclass(frozen=True)
class Ask:
    recipient: str
    category: str
    purpose: str
    customer_type: str = "standard"
    jurisdiction: str = "CN"
    mode: str = "release"
    at: datetime = T0 + timedelta(hours=1)


@dataclass(frozen=True)
class Case:
    name: str
    ask: Ask
    allowed: bool
    reasons: tuple[Reason, ...]
    setup: Callable[[PolicyRuntime, str], None] = field(default=lambda rt, s: None)
    rule: str | None = None


def grant(**kw: object) -> Callable[[PolicyRuntime, str], None]:
    """Setup step: the subject (or their guardian) gives one consent at T0."""

    def step(rt: PolicyRuntime, subject: str) -> None:
        args: dict[str, object] = {"jurisdiction": "CN", "actor": f"customer:{subject}", "at": T0, **kw}
        rt.consents.grant(subject_id=subject, **args)  # type: ignore[arg-type]

    return step


def steps(*fns: Callable[[PolicyRuntime, str], None]) -> Callable[[PolicyRuntime, str], None]:
    def run(rt: PolicyRuntime, subject: str) -> None:
        for fn in fns:
            fn(rt, subject)

    return run


def withdraw_all(at: datetime) -> Callable[[PolicyRuntime, str], None]:
    def step(rt: PolicyRuntime, subject: str) -> None:
        for record in rt.consents.records(subject):
            rt.consents.withdraw(record.record_id, actor=f"customer:{subject}", at=at)

    return step


def give_again_all(at: datetime) -> Callable[[PolicyRuntime, str], None]:
    def step(rt: PolicyRuntime, subject: str) -> None:
        for record in rt.consents.records(subject):
            rt.consents.give_again(record.record_id, actor=f"customer:{subject}", at=at)

    return step


REPAIR = {"purposes": ["repair_prediction"]}
DEALER_SH = "dealer-sh-4s"
FINANCE = "financial_product_recommendation"
LATER = T0 + timedelta(minutes=30)

CASES = [
    Case(
        "no consent -> deny",
        Ask(DEALER_SH, "vehicle.fault_codes", "repair_prediction"),
        False,
        (R.MATRIX_ALLOW, R.NO_CONSENT),
    ),
    Case(
        "consent on a parent category covers the child",
        Ask(DEALER_SH, "vehicle.fault_codes", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle"]),
        rule="dealer-vehicle-repair",
    ),
    Case(
        "consent on a child category does not cover its sibling",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        False,
        (R.MATRIX_ALLOW, R.NO_CONSENT),
        grant(**REPAIR, categories=["vehicle.fault_codes"]),
    ),
    Case(
        "expired consent -> deny",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction", at=T0 + timedelta(days=2)),
        False,
        (R.MATRIX_ALLOW, R.CONSENT_EXPIRED),
        grant(**REPAIR, categories=["vehicle"], valid_until=T0 + timedelta(days=1)),
    ),
    Case(
        "consent still inside its validity",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle"], valid_until=T0 + timedelta(days=1)),
    ),
    Case(
        "withdrawn consent -> deny",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        False,
        (R.MATRIX_ALLOW, R.CONSENT_WITHDRAWN),
        steps(grant(**REPAIR, categories=["vehicle"]), withdraw_all(LATER)),
    ),
    Case(
        "withdrawn then given again -> allow",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        steps(
            grant(**REPAIR, categories=["vehicle"]), withdraw_all(LATER), give_again_all(LATER + timedelta(minutes=1))
        ),
    ),
    Case(
        "refused consent -> deny",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        False,
        (R.MATRIX_ALLOW, R.CONSENT_REFUSED),
        grant(**REPAIR, categories=["vehicle"], refused=True),
    ),
    Case(
        "recipient-specific consent covers that organisation",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle"], recipients=[f"org:{DEALER_SH}"]),
    ),
    Case(
        "recipient-specific consent does not cover another of the same role",
        Ask("dealer-bj-4s", "vehicle.vin", "repair_prediction"),
        False,
        (R.MATRIX_ALLOW, R.NO_CONSENT),
        grant(**REPAIR, categories=["vehicle"], recipients=[f"org:{DEALER_SH}"]),
    ),
    Case(
        "role consent covers every organisation of the role",
        Ask("dealer-bj-4s", "vehicle.vin", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle"], recipients=["role:dealer"]),
    ),
    Case(
        "role consent does not cover another role",
        Ask("acme-crm", "vehicle.vin", "service_delivery"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
        grant(**REPAIR, categories=["vehicle"], recipients=["role:dealer"]),
    ),
    Case(
        "any-recipient consent covers every recipient",
        Ask("dealer-bj-4s", "vehicle.vin", "repair_prediction"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle"], recipients=["any"]),
    ),
    Case(
        "sensitive category without separate consent (PIPL Art. 29)",
        Ask("acme-finance", "financial.income", "financial_product_recommendation", mode="predicate"),
        False,
        (R.MATRIX_ALLOW, R.SEPARATE_CONSENT_REQUIRED),
        grant(purposes=["financial_product_recommendation"], categories=["financial"]),
    ),
    Case(
        "sensitive category with its own separate consent",
        Ask("acme-finance", "financial.income", "financial_product_recommendation", mode="predicate"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(purposes=["financial_product_recommendation"], categories=["financial.income"], separate=True),
    ),
    Case(
        "predicate-only category is never released, whatever the consent",
        Ask("acme-finance", "financial.income", "financial_product_recommendation"),
        False,
        (R.NO_MATCHING_RULE,),
        grant(purposes=["financial_product_recommendation"], categories=["financial.income"], separate=True),
    ),
    Case(
        "legal-obligation basis needs no consent",
        Ask(DEALER_SH, "vehicle.vin", "recall_notice"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
        rule="dealer-recall",
    ),
    Case(
        "contract basis needs no consent",
        Ask(DEALER_SH, "contact.phone", "service_delivery"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
    ),
    Case(
        "legitimate interest without objection (GDPR Art. 6(1)(f))",
        Ask(DEALER_SH, "vehicle.fault_codes", "repair_prediction", jurisdiction="EU"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
    ),
    Case(
        "objection to legitimate interest (GDPR Art. 21) -> deny",
        Ask(DEALER_SH, "vehicle.fault_codes", "repair_prediction", jurisdiction="EU"),
        False,
        (R.MATRIX_ALLOW, R.OBJECTION),
        grant(**REPAIR, categories=["*"], kind="objection", jurisdiction="EU"),
    ),
    Case(
        "an objection cannot defeat a legal obligation",
        Ask(DEALER_SH, "vehicle.vin", "recall_notice", jurisdiction="EU"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
        grant(purposes=["recall_notice"], categories=["*"], kind="objection", jurisdiction="EU"),
    ),
    Case(
        "opt-out of sale/share (CCPA) -> deny",
        Ask("acme-crm", "contact.phone", "marketing", jurisdiction="US-CA"),
        False,
        (R.MATRIX_ALLOW, R.OPT_OUT_OF_SALE),
        grant(purposes=["marketing"], categories=["*"], kind="opt_out", jurisdiction="US-CA"),
    ),
    Case(
        "sale/share on notice without opt-out",
        Ask("acme-crm", "contact.phone", "marketing", jurisdiction="US-CA"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
    ),
    Case(
        "a minor's sale/share needs an opt-in consent, not a notice (CCPA 1798.120(c))",
        Ask("acme-crm", "contact.phone", "marketing", customer_type="minor", jurisdiction="US-CA"),
        False,
        (R.MATRIX_DENY, R.NO_CONSENT),
    ),
    Case(
        "an opt-out of sale/share defeats a consent to it too (the customer's latest word)",
        Ask("acme-finance", "identity.name", "financial_product_recommendation", jurisdiction="US-CA"),
        False,
        (R.MATRIX_ALLOW, R.OPT_OUT_OF_SALE),
        steps(
            grant(purposes=[FINANCE], categories=["identity.name"], jurisdiction="US-CA"),
            grant(purposes=[FINANCE], categories=["*"], kind="opt_out", jurisdiction="US-CA"),
        ),
    ),
    Case(
        "a limit on sensitive data refuses a consented use of a sensitive category (CPRA 1798.121)",
        Ask("stuttgart-rnd", "location.precise", "joint_rnd", jurisdiction="US-CA"),
        False,
        (R.MATRIX_ALLOW, R.SENSITIVE_USE_LIMITED),
        steps(
            grant(purposes=["joint_rnd"], categories=["location.precise"], separate=True, jurisdiction="US-CA"),
            grant(purposes=["joint_rnd"], categories=["*"], kind="limit_sensitive", jurisdiction="US-CA"),
        ),
    ),
    Case(
        "a limit on sensitive data leaves the other categories",
        Ask("stuttgart-rnd", "vehicle.mileage", "joint_rnd", jurisdiction="US-CA"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        steps(
            grant(purposes=["joint_rnd"], categories=["vehicle.mileage"], jurisdiction="US-CA"),
            grant(purposes=["joint_rnd"], categories=["*"], kind="limit_sensitive", jurisdiction="US-CA"),
        ),
    ),
    Case(
        "a restriction stops a use resting on a contract (GDPR Art. 18)",
        Ask(DEALER_SH, "vehicle.vin", "service_delivery", jurisdiction="EU"),
        False,
        (R.MATRIX_ALLOW, R.PROCESSING_RESTRICTED),
        grant(purposes=["service_delivery"], categories=["*"], kind="restriction", jurisdiction="EU"),
    ),
    Case(
        "a restriction leaves a legal obligation (Art. 18(2))",
        Ask(DEALER_SH, "vehicle.vin", "recall_notice", jurisdiction="EU"),
        True,
        (R.MATRIX_ALLOW, R.LEGAL_BASIS),
        grant(purposes=["recall_notice"], categories=["*"], kind="restriction", jurisdiction="EU"),
    ),
    Case(
        "minor without guardian consent -> deny",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction", customer_type="minor"),
        False,
        (R.MATRIX_ALLOW, R.GUARDIAN_CONSENT_REQUIRED),
        grant(**REPAIR, categories=["vehicle.vin"], separate=True),
    ),
    Case(
        "minor's data is sensitive under PIPL: guardian consent must also be separate",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction", customer_type="minor"),
        False,
        (R.MATRIX_ALLOW, R.SEPARATE_CONSENT_REQUIRED),
        grant(**REPAIR, categories=["vehicle"], given_by="guardian"),
    ),
    Case(
        "minor with a separate guardian consent",
        Ask(DEALER_SH, "vehicle.vin", "repair_prediction", customer_type="minor"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(**REPAIR, categories=["vehicle.vin"], given_by="guardian", separate=True),
    ),
    Case(
        "cross-border without separate transfer consent (PIPL Art. 39) -> deny",
        Ask("stuttgart-rnd", "vehicle.fault_codes", "joint_rnd"),
        False,
        (R.MATRIX_ALLOW, R.CROSS_BORDER_CONSENT_REQUIRED),
        grant(purposes=["joint_rnd"], categories=["vehicle"]),
    ),
    Case(
        "cross-border consent must name the foreign recipient, not a role",
        Ask("stuttgart-rnd", "vehicle.fault_codes", "joint_rnd"),
        False,
        (R.MATRIX_ALLOW, R.CROSS_BORDER_CONSENT_REQUIRED),
        grant(purposes=["joint_rnd"], categories=["vehicle"], recipients=["role:rnd"], cross_border=True),
    ),
    Case(
        "cross-border with separate consent naming the recipient",
        Ask("stuttgart-rnd", "vehicle.fault_codes", "joint_rnd"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(purposes=["joint_rnd"], categories=["vehicle"], recipients=["org:stuttgart-rnd"], cross_border=True),
    ),
    Case(
        "no cross-border rule under GDPR for an EU subject",
        Ask("stuttgart-rnd", "vehicle.fault_codes", "joint_rnd", jurisdiction="EU"),
        True,
        (R.MATRIX_ALLOW, R.CONSENT),
        grant(purposes=["joint_rnd"], categories=["vehicle"], jurisdiction="EU"),
    ),
    Case(
        "matrix deny beats consent",
        Ask(DEALER_SH, "identity.national_id", "repair_prediction"),
        False,
        (R.MATRIX_DENY, R.SEPARATE_CONSENT_REQUIRED),
        grant(**REPAIR, categories=["identity", "vehicle"]),
        rule="never-release-national-id",
    ),
    Case(
        "matrix deny beats even a separate consent",
        Ask(DEALER_SH, "identity.national_id", "repair_prediction"),
        False,
        (R.MATRIX_DENY,),
        grant(**REPAIR, categories=["identity.national_id"], separate=True),
        rule="never-release-national-id",
    ),
    Case(
        "no matching rule -> deny, even with consent",
        Ask("bright-marketing", "behavior.driving", "marketing"),
        False,
        (R.NO_MATCHING_RULE,),
        grant(purposes=["marketing"], categories=["behavior"]),
    ),
    Case(
        "unknown category -> deny", Ask(DEALER_SH, "vehicle.colour", "repair_prediction"), False, (R.UNKNOWN_CATEGORY,)
    ),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyRuntime]:
    """One database for the table; each row uses its own subject, so rows cannot see each other's consents."""
    url = f"sqlite:///{tmp_path_factory.mktemp('decisions') / 'consentry.db'}"
    rt = open_policies(url, pseudonym_key=PSEUDONYM_KEY)
    yield rt
    rt.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(shared: PolicyRuntime, case: Case) -> None:
    subject = "subject-" + case.name
    case.setup(shared, subject)
    ask = case.ask
    decision = shared.engine.decide(
        ask.recipient,
        SubjectContext(subject, ask.customer_type, ask.jurisdiction),
        [ask.category],
        ask.purpose,
        mode=ask.mode,  # type: ignore[arg-type]
        at=ask.at,
    )
    got = decision.of(ask.category)
    assert (got.allowed, got.reasons) == (case.allowed, case.reasons)
    if case.rule is not None:
        assert got.rule == case.rule
    if got.allowed and R.CONSENT in got.reasons:
        assert got.consent is not None and got.consent.ledger_index is not None
        record = shared.consents.get(got.consent.record_id)
        assert record.subject_id == subject and record.ledger_index == got.consent.ledger_index


def test_policy_change_takes_effect_at_once_in_every_engine(runtime: PolicyRuntime, tmp_path: Path) -> None:
    """A second engine on its own connection pool stands for a second gateway process sharing the database."""
    from policies import DecisionEngine

    other = DecisionEngine.open(str(runtime.ledger.engine.url), runtime.taxonomy)
    subject = SubjectContext("carol", "standard", "CN")
    runtime.consents.grant(
        subject_id="carol", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="c"
    )
    for engine in (runtime.engine, other):
        assert engine.decide(DEALER_SH, subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin").allowed
    change = runtime.matrix.change(
        actor="admin:alice",
        add=[{"id": "freeze-vin", "effect": "deny", "role": "dealer", "category": "vehicle.vin", "mode": "*"}],
        note="incident 42",
    )
    for engine in (runtime.engine, other):
        got = engine.decide(DEALER_SH, subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
        assert (got.allowed, got.reasons[0], got.rule) == (False, R.MATRIX_DENY, "freeze-vin")
    runtime.matrix.change(actor="admin:alice", remove=["freeze-vin", "dealer-vehicle-repair"])
    for engine in (runtime.engine, other):
        got = engine.decide(DEALER_SH, subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
        assert (got.allowed, got.reasons[0]) == (False, R.NO_MATCHING_RULE)
    assert change.diff["added"][0]["id"] == "freeze-vin"
    other.close()


def test_withdrawal_takes_effect_at_once_in_every_engine(runtime: PolicyRuntime) -> None:
    from policies import DecisionEngine

    other = DecisionEngine.open(str(runtime.ledger.engine.url), runtime.taxonomy)
    subject = SubjectContext("dave", "standard", "CN")
    record = runtime.consents.grant(
        subject_id="dave", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="d"
    )
    for engine in (runtime.engine, other):
        for _ in range(3):  # warm every cache there is
            assert engine.decide(DEALER_SH, subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin").allowed
    runtime.consents.withdraw(record.record_id, actor="customer:dave")
    for engine in (runtime.engine, other):
        got = engine.decide(DEALER_SH, subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
        assert (got.allowed, got.reasons) == (False, (R.MATRIX_ALLOW, R.CONSENT_WITHDRAWN))
    other.close()


def test_another_process_sees_withdrawals_and_policy_changes_at_once(runtime: PolicyRuntime) -> None:
    """A real second process with its own engine and connections, warmed on an allow before each change."""
    import json
    import subprocess
    import sys

    url = str(runtime.ledger.engine.url)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.policies.decider_process", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdin is not None and child.stdout is not None

    def ask(category: str = "vehicle.vin") -> dict[str, object]:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{DEALER_SH} erin {category} repair_prediction\n")
        child.stdin.flush()
        return dict(json.loads(child.stdout.readline()))

    try:
        record = runtime.consents.grant(
            subject_id="erin", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="e"
        )
        assert ask()["allowed"] and ask("vehicle.fault_codes")["allowed"]
        runtime.consents.withdraw(record.record_id, actor="customer:erin")
        assert ask()["reasons"] == ["matrix_allow", "consent_withdrawn"]
        runtime.consents.give_again(record.record_id, actor="customer:erin")
        assert ask()["allowed"]
        runtime.matrix.change(actor="admin:alice", remove=["dealer-vehicle-repair"])
        assert ask()["reasons"] == ["no_matching_rule"]
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert child.returncode == 0


def test_an_unreadable_state_fails_closed_with_a_named_error(tmp_path: Path) -> None:
    from policies import DecisionEngine, StateUnavailableError

    engine = DecisionEngine.open(f"sqlite:///{tmp_path / 'empty.db'}")  # no policies tables at all
    with pytest.raises(StateUnavailableError, match="cannot read consents and matrix version"):
        engine.decide(DEALER_SH, SubjectContext("x", "standard", "CN"), ["vehicle.vin"], "repair_prediction")
    engine.close()
