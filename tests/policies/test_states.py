"""Every refusal the engine can give is a state the customer can be shown (issue 14, point 5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import ALLOW_REASONS, STATE_OF_REASON, CategoryDecision, CellState, LegalBasis, Reason, cell_state


def test_every_reason_either_explains_an_allow_or_maps_to_a_state() -> None:
    assert set(STATE_OF_REASON).isdisjoint(ALLOW_REASONS)
    assert set(STATE_OF_REASON) | ALLOW_REASONS == set(Reason)


def test_every_state_but_the_two_allows_is_reachable_from_a_reason() -> None:
    assert set(STATE_OF_REASON.values()) | {CellState.GIVEN, CellState.NOT_NEEDED} == set(CellState)


@given(
    reasons=st.lists(st.sampled_from(sorted(STATE_OF_REASON)), min_size=1, unique=True),
    basis=st.sampled_from(list(LegalBasis)),
)
def test_a_refusal_shows_the_state_of_its_highest_priority_reason(reasons: list[Reason], basis: LegalBasis) -> None:
    decision = CategoryDecision("vehicle.vin", False, (Reason.MATRIX_ALLOW, *reasons))
    expected = next(state for reason, state in STATE_OF_REASON.items() if reason in reasons)
    assert cell_state(decision, basis) is expected


@pytest.mark.parametrize(
    ("basis", "state"), [(LegalBasis.CONSENT, CellState.GIVEN), (LegalBasis.CONTRACT, CellState.NOT_NEEDED)]
)
def test_an_allow_is_given_under_consent_and_not_needed_otherwise(basis: LegalBasis, state: CellState) -> None:
    reasons = (Reason.MATRIX_ALLOW, Reason.CONSENT if basis is LegalBasis.CONSENT else Reason.LEGAL_BASIS)
    assert cell_state(CategoryDecision("vehicle.vin", True, reasons), basis) is state


def test_a_refusal_without_a_refusal_reason_is_a_bug_not_a_guess() -> None:
    with pytest.raises(ValueError, match="without a refusal reason"):
        cell_state(CategoryDecision("vehicle.vin", False, (Reason.MATRIX_ALLOW,)), LegalBasis.CONSENT)
