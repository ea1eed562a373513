"""Issue 21's matrix mode `aggregate`: what allows and denies it, the budget its allow rules carry, and the batch
decision that picks a cohort (`admit_many`) agreeing with `decide`, one subject at a time, in every state."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from policies import Effect, Mode, PrivacyBudget, Reason, SubjectContext, ValidationError, load_taxonomy, validate_rules
from policies.enforcer import mode_match
from policies.runtime import PolicyRuntime

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MODES = [m.value for m in Mode]
DISCLOSURE = {Mode.AGGREGATE.value: 0, Mode.PREDICATE.value: 1, Mode.RELEASE.value: 2}


@pytest.mark.parametrize(("requested", "ruled"), list(itertools.product(MODES, MODES)))
def test_what_each_mode_of_a_rule_covers(requested: str, ruled: str) -> None:
    # an allow of release also allows a predicate, and nothing else implies another mode
    allows = requested == ruled or (ruled == "release" and requested == "predicate")
    assert mode_match(requested, ruled, Effect.ALLOW.value) is allows
    # a deny of a mode denies every mode that discloses at least as much
    assert mode_match(requested, ruled, Effect.DENY.value) is (DISCLOSURE[requested] >= DISCLOSURE[ruled])
    assert mode_match(requested, "*", Effect.ALLOW.value) and mode_match(requested, "*", Effect.DENY.value)


def rule(**fields: object) -> dict[str, object]:
    return {"id": "r", "effect": "allow", "role": "rnd", "category": "vehicle", "purpose": "joint_rnd", **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "aggregate"}, "needs a budget"),
        ({"mode": "release", "budget": {"epsilon": 1, "period": "month"}}, "only an allow rule for aggregates"),
        ({"mode": "aggregate", "effect": "deny", "budget": {"epsilon": 1, "period": "month"}}, "only an allow"),
        ({"mode": "aggregate", "budget": {"epsilon": 0, "period": "month"}}, "epsilon must be a number"),
        ({"mode": "aggregate", "budget": {"epsilon": 101, "period": "month"}}, "epsilon must be a number"),
        ({"mode": "aggregate", "budget": {"epsilon": 1, "period": "fortnight"}}, "period must be one of"),
        ({"mode": "aggregate", "budget": {"epsilon": 1}}, "exactly epsilon and period"),
    ],
)
def test_budgets_are_validated_with_the_rule(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_rules(load_taxonomy(), [rule(**fields)], "<test>")


def test_a_budget_survives_a_policy_change_and_its_diff(runtime: PolicyRuntime) -> None:
    store = runtime.matrix
    added = rule(
        id="rnd-more-stats", category="vehicle.vin", mode="aggregate", budget={"epsilon": 2.5, "period": "week"}
    )
    change = store.change(actor="admin:test", add=[added])
    (stored,) = [r for r in store.rules() if r.id == "rnd-more-stats"]
    assert stored.budget == PrivacyBudget(2.5, "week") and stored.allows_aggregate
    assert change.diff["added"][0]["budget"] == {"epsilon": 2.5, "period": "week"}
    assert all("budget" not in r.as_dict() for r in store.rules() if r.budget is None)


def test_aggregate_decisions_follow_the_matrix_and_the_consent(runtime: PolicyRuntime) -> None:
    engine, consents = runtime.engine, runtime.consents
    subject = SubjectContext("agg-1", "standard", "DE")
    record = consents.grant(
        subject_id="agg-1",
        purposes=["joint_rnd"],
        categories=["vehicle"],
        recipients=["org:stuttgart-rnd"],
        jurisdiction="DE",
        actor="customer:agg-1",
        at=T0,
    )
    at = T0 + timedelta(hours=1)
    vin = engine.decide("stuttgart-rnd", subject, ["vehicle.vin"], "joint_rnd", mode="aggregate", at=at).of(
        "vehicle.vin"
    )
    assert vin.allowed and vin.rule == "rnd-vehicle-statistics" and vin.reasons == (Reason.MATRIX_ALLOW, Reason.CONSENT)
    # release of the VIN is not allowed to R&D, whatever the consent: the aggregate rule does not imply it
    assert not engine.decide("stuttgart-rnd", subject, ["vehicle.vin"], "joint_rnd", at=at).of("vehicle.vin").allowed
    # identity is denied to R&D in every mode, aggregates included
    name = engine.decide("stuttgart-rnd", subject, ["identity.name"], "joint_rnd", mode="aggregate", at=at)
    assert name.of("identity.name").reasons[0] is Reason.MATRIX_DENY
    consents.withdraw(record.record_id, actor="customer:agg-1", at=T0 + timedelta(minutes=30))
    after = engine.decide("stuttgart-rnd", subject, ["vehicle.vin"], "joint_rnd", mode="aggregate", at=at)
    assert Reason.CONSENT_WITHDRAWN in after.of("vehicle.vin").reasons


def test_admit_many_agrees_with_decide_subject_by_subject(runtime: PolicyRuntime) -> None:
    rng = random.Random(21)
    consents = runtime.consents
    subjects = []
    for number in range(60):
        sid = f"cohort-{number}"
        jurisdiction = rng.choice(["CN", "DE"])
        ctype = rng.choice(["standard", "standard", "minor", "vip"])
        subjects.append(SubjectContext(sid, ctype, jurisdiction))
        for _ in range(rng.randint(0, 3)):
            record = consents.grant(
                subject_id=sid,
                purposes=["joint_rnd"],
                categories=[rng.choice(["vehicle", "vehicle.mileage", "behavior.driving"])],
                recipients=[rng.choice(["org:stuttgart-rnd", "role:rnd", "org:acme-crm"])],
                jurisdiction=jurisdiction,
                actor=f"customer:{sid}",
                given_by=rng.choice(["subject", "guardian"]),
                cross_border=rng.random() < 0.5,
                valid_until=T0 + timedelta(hours=rng.choice([2, 48])),
                at=T0 + timedelta(minutes=rng.randint(0, 50)),
            )
            if rng.random() < 0.3:
                consents.withdraw(record.record_id, actor=f"customer:{sid}", at=T0 + timedelta(minutes=55))
    engine = runtime.engine
    for at in (T0 + timedelta(hours=1), T0 + timedelta(hours=3)):
        categories = ["vehicle.mileage", "vehicle"]
        batch = engine.admit_many("stuttgart-rnd", subjects, categories, "joint_rnd", mode="aggregate", at=at)
        one_by_one = [
            not engine.decide("stuttgart-rnd", s, categories, "joint_rnd", mode="aggregate", at=at).withheld
            for s in subjects
        ]
        assert batch == one_by_one
        assert any(batch) and not all(batch)  # the states drawn do both
