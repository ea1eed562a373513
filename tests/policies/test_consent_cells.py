"""A consent covers the cells of the agreement it was given under, no more (issue 14, point 1)."""

from __future__ import annotations

import pytest

from policies import ConsentError, Reason, SubjectContext, split
from policies.runtime import PolicyRuntime

ANNA = SubjectContext("anna", "standard", "DE")
VIN_RULE = {"id": "rnd-vin", "effect": "allow", "role": "rnd", "category": "vehicle.vin", "purpose": "joint_rnd"}


def _give(runtime: PolicyRuntime) -> str:
    record = runtime.consents.grant(
        subject_id=ANNA.id,
        purposes=["joint_rnd"],
        categories=["vehicle"],
        recipients=["org:stuttgart-rnd"],
        jurisdiction="DE",
        actor="customer:anna",
    )
    assert record.cells is not None
    assert ("standard", "vehicle.fault_codes", "joint_rnd", "stuttgart-rnd", "release") in record.cells
    assert ("standard", "vehicle.vin", "joint_rnd", "stuttgart-rnd", "aggregate") in record.cells
    assert not any(cell[1] == "vehicle.vin" and cell[4] == "release" for cell in record.cells)
    return record.record_id


def test_a_widening_is_not_covered_until_the_customer_consents_again(runtime: PolicyRuntime) -> None:
    _give(runtime)
    runtime.matrix.change(actor="admin:dpo", add=[VIN_RULE])
    decision = runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.vin", "vehicle.fault_codes"], "joint_rnd")
    assert decision.of("vehicle.vin").reasons == (Reason.MATRIX_ALLOW, Reason.CONSENT_SCOPE_CHANGED)
    assert decision.of("vehicle.fault_codes").allowed
    # statistics over the VIN were listed, so they stay covered; a yes/no answer about it was not
    assert runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.vin"], "joint_rnd", mode="aggregate").allowed
    predicate = runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.vin"], "joint_rnd", mode="predicate")
    assert predicate.of("vehicle.vin").reasons[-1] is Reason.CONSENT_SCOPE_CHANGED

    again = _give_again_under_the_new_agreement(runtime)
    decision = runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.vin"], "joint_rnd")
    assert decision.of("vehicle.vin").allowed and decision.of("vehicle.vin").consent is not None
    assert decision.of("vehicle.vin").consent.record_id == again  # type: ignore[union-attr]


def _give_again_under_the_new_agreement(runtime: PolicyRuntime) -> str:
    record = runtime.consents.grant(
        subject_id=ANNA.id,
        purposes=["joint_rnd"],
        categories=["vehicle.vin"],
        recipients=["org:stuttgart-rnd"],
        jurisdiction="DE",
        actor="customer:anna",
    )
    return record.record_id


def test_a_withdrawn_consent_given_again_covers_the_agreement_of_that_moment(runtime: PolicyRuntime) -> None:
    record_id = _give(runtime)
    runtime.consents.withdraw(record_id, actor="customer:anna")
    runtime.matrix.change(actor="admin:dpo", add=[VIN_RULE])
    again = runtime.consents.give_again(record_id, actor="customer:anna")
    assert (
        again.cells is not None and ("standard", "vehicle.vin", "joint_rnd", "stuttgart-rnd", "release") in again.cells
    )
    assert runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.vin"], "joint_rnd").of("vehicle.vin").allowed


def test_a_narrowing_applies_at_once_and_the_change_says_what_it_does_to_consents(runtime: PolicyRuntime) -> None:
    _give(runtime)
    change = runtime.matrix.change(actor="admin:dpo", remove=["rnd-mileage"], add=[VIN_RULE])
    assert ["rnd", "standard", "vehicle.mileage", "joint_rnd", "release"] in change.consents["narrowed"]
    assert ["rnd", "standard", "vehicle.vin", "joint_rnd", "release"] in change.consents["widened"]
    decision = runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.mileage"], "joint_rnd")
    assert not decision.of("vehicle.mileage").allowed
    assert Reason.CONSENT_SCOPE_CHANGED not in decision.of("vehicle.mileage").reasons


def test_a_refused_flow_is_refused_by_the_matrix_not_by_the_scope(runtime: PolicyRuntime) -> None:
    _give(runtime)
    decision = runtime.engine.decide("stuttgart-rnd", ANNA, ["identity.name"], "joint_rnd")
    assert Reason.CONSENT_SCOPE_CHANGED not in decision.of("identity.name").reasons


def test_an_exact_withdrawal_splits_off_exactly_the_cell_and_narrows_the_named_scope(runtime: PolicyRuntime) -> None:
    record = runtime.consents.get(_give(runtime))
    assert record.cells is not None
    parts = split(
        runtime.consents.taxonomy, record, record.cells, [("vehicle.fault_codes", "joint_rnd", "stuttgart-rnd")]
    )
    assert {c[1] for c in parts.withdrawn} == {"vehicle.fault_codes", "vehicle"}  # the parent would bring it back
    assert set(parts.withdrawn).isdisjoint(parts.remainder)
    assert set(parts.withdrawn) | set(parts.remainder) == set(record.cells)
    assert "vehicle" not in parts.categories and "vehicle.mileage" in parts.categories
    assert "vehicle.fault_codes" not in parts.categories
    assert parts.purposes == ("joint_rnd",) and parts.recipients == ("org:stuttgart-rnd",)

    rest = runtime.consents.grant(
        subject_id=ANNA.id,
        purposes=parts.purposes,
        categories=parts.categories,
        recipients=parts.recipients,
        jurisdiction="DE",
        actor="customer:anna",
        cells=parts.remainder,
    )
    runtime.consents.withdraw(record.record_id, actor="customer:anna")
    decision = runtime.engine.decide("stuttgart-rnd", ANNA, ["vehicle.fault_codes", "vehicle.mileage"], "joint_rnd")
    assert decision.of("vehicle.fault_codes").reasons[-1] is Reason.CONSENT_WITHDRAWN
    assert decision.of("vehicle.mileage").consent is not None
    assert decision.of("vehicle.mileage").consent.record_id == rest.record_id


def test_cells_outside_the_named_scope_are_refused(runtime: PolicyRuntime) -> None:
    with pytest.raises(ConsentError, match="outside the record's scope"):
        runtime.consents.grant(
            subject_id=ANNA.id,
            purposes=["joint_rnd"],
            categories=["vehicle.mileage"],
            recipients=["org:stuttgart-rnd"],
            jurisdiction="DE",
            actor="customer:anna",
            cells=[("standard", "vehicle.vin", "joint_rnd", "stuttgart-rnd", "release")],
        )


def test_withdrawing_one_organisation_of_a_role_names_the_others(runtime: PolicyRuntime) -> None:
    record = runtime.consents.grant(
        subject_id="li",
        purposes=["repair_prediction"],
        categories=["vehicle.vin"],
        recipients=["role:dealer"],
        jurisdiction="CN",
        actor="customer:li",
    )
    assert record.cells is not None
    parts = split(
        runtime.consents.taxonomy, record, record.cells, [("vehicle.vin", "repair_prediction", "dealer-sh-4s")]
    )
    assert parts.recipients == ("org:dealer-bj-4s",)
    assert {c[3] for c in parts.remainder} == {"dealer-bj-4s"}
