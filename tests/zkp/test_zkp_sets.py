"""Set commitments: every element counts, the commitments never tell the set's size, and a proof reveals
neither which element matched nor anything about the others."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zkp.statement_world import World
from zkp import (
    AttributeSchema,
    Operator,
    Predicate,
    ProofRefused,
    QuestionTemplate,
    SchemaError,
    SetOpening,
    VerificationError,
    answer_question,
    check_answer_proof,
    commit_set,
)
from zkp.pedersen import commitment_point
from zkp.schema import category_scalar

CODES = AttributeSchema.categorical_set("fault_code", 4)
UNIVERSE = ("P0171", "P0300", "P0301", "P0420", "P0455", "P0128")
WORLD = World()


@settings(max_examples=25, deadline=None)
@given(
    elements=st.lists(st.sampled_from(UNIVERSE), max_size=4, unique=True),
    operands=st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=3, unique=True),
    op=st.sampled_from([Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN]),
)
def test_answers_follow_set_semantics_and_verify(elements: list[str], operands: list[str], op: Operator) -> None:
    if op in (Operator.EQ, Operator.NE):
        operands = operands[:1]
    held = WORLD.issue(CODES, "cust-1001", elements)
    template = QuestionTemplate("codes", "fault_code", Predicate(op, tuple(operands)))
    answer = answer_question(held, WORLD.question(template, "cust-1001"))
    any_in = bool(set(elements) & set(operands))
    assert answer.holds is (any_in if op in (Operator.EQ, Operator.IN) else not any_in)
    check_answer_proof(answer)
    with pytest.raises(VerificationError):
        check_answer_proof(dataclasses.replace(answer, holds=not answer.holds))


def test_a_set_always_takes_the_declared_number_of_commitments() -> None:
    for elements in ([], ["P0420"], ["P0171", "P0300", "P0301", "P0420"]):
        commitments, opening = commit_set(CODES, elements)
        assert len(commitments) == CODES.max_elements == len(opening.slots)
        assert opening.elements == tuple(sorted(elements))
    with pytest.raises(SchemaError, match="more than 4"):
        commit_set(CODES, list(UNIVERSE))
    with pytest.raises(SchemaError, match="repeated"):
        commit_set(CODES, ["P0420", "P0420"])


def test_padding_commits_to_zero_which_no_category_equals() -> None:
    commitments, opening = commit_set(CODES, ["P0420"])
    for slot, blinding, commitment in zip(opening.slots, opening.blindings, commitments, strict=True):
        scalar = 0 if slot is None else category_scalar("fault_code", slot)
        assert commitment_point(scalar, blinding) == commitment.point
    assert all(category_scalar("fault_code", code) != 0 for code in UNIVERSE)


def test_a_yes_is_the_same_size_whichever_element_matched_and_however_many_there_are() -> None:
    template = QuestionTemplate("catalyst-or-misfire", "fault_code", Predicate(Operator.IN, ("P0420", "P0300")))
    sizes = set()
    for elements in (["P0420"], ["P0300"], ["P0301", "P0420"], ["P0171", "P0300", "P0301", "P0420"]):
        held = WORLD.issue(CODES, "cust-1001", elements)
        answer = answer_question(held, WORLD.question(template, "cust-1001"))
        assert answer.holds is True
        sizes.add((len(answer.proof), len(answer.statement.statement.commitments)))
    assert len(sizes) == 1


def test_an_opening_cannot_prove_an_element_the_set_does_not_hold() -> None:
    held = WORLD.issue(CODES, "cust-1001", ["P0301"])
    lying = dataclasses.replace(held.opening, slots=tuple("P0420" if s == "P0301" else s for s in held.opening.slots))
    assert isinstance(lying, SetOpening)
    with pytest.raises(ProofRefused, match="does not open"):
        dataclasses.replace(held, opening=lying)
    template = QuestionTemplate("catalyst", "fault_code", Predicate(Operator.EQ, ("P0420",)))
    answer = answer_question(held, WORLD.question(template, "cust-1001"))
    assert answer.holds is False
    with pytest.raises(VerificationError):
        check_answer_proof(dataclasses.replace(answer, holds=True))
