"""Completeness of every predicate at its boundaries, false answers proving the negation, and the honest
prover's refusals (false statements, values outside the bit width, unsatisfiable predicates)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zkp.zkp_schemas import AGE, BIRTH_DAY, CITY, FAULT_CODE, INCOME_CENTS
from zkp import (
    Answer,
    AttributeSchema,
    Context,
    Operator,
    Predicate,
    ProofRefused,
    SchemaError,
    Statement,
    VerificationError,
    answer,
    commit,
    prove,
    verify,
    verify_answer,
)
from zkp.pedersen import Opening
from zkp.statement import INTEGER_OPERATORS

MAX_AGE = AGE.max_value

# (value, operator, operands, expected truth) at the boundaries: equal to the bound, 0 and 2^width - 1.
INTEGER_CASES = [
    (18, Operator.GE, (18,), True),
    (17, Operator.GE, (18,), False),
    (0, Operator.GE, (0,), True),
    (MAX_AGE, Operator.GE, (MAX_AGE,), True),
    (18, Operator.GT, (18,), False),
    (19, Operator.GT, (18,), True),
    (MAX_AGE, Operator.GT, (MAX_AGE,), False),
    (18, Operator.LE, (18,), True),
    (19, Operator.LE, (18,), False),
    (0, Operator.LE, (0,), True),
    (MAX_AGE, Operator.LE, (MAX_AGE,), True),
    (18, Operator.LT, (18,), False),
    (17, Operator.LT, (18,), True),
    (0, Operator.LT, (0,), False),
    (18, Operator.WITHIN, (18, 65), True),
    (65, Operator.WITHIN, (18, 65), True),
    (17, Operator.WITHIN, (18, 65), False),
    (66, Operator.WITHIN, (18, 65), False),
    (0, Operator.WITHIN, (0, MAX_AGE), True),
    (MAX_AGE, Operator.WITHIN, (0, MAX_AGE), True),
    (0, Operator.WITHIN, (1, MAX_AGE), False),
    (MAX_AGE, Operator.WITHIN, (0, MAX_AGE - 1), False),
    (0, Operator.OUTSIDE, (1, MAX_AGE), True),
    (MAX_AGE, Operator.OUTSIDE, (0, MAX_AGE - 1), True),
    (40, Operator.OUTSIDE, (18, 65), False),
    (42, Operator.EQ, (42,), True),
    (0, Operator.EQ, (0,), True),
    (MAX_AGE, Operator.EQ, (MAX_AGE,), True),
    (42, Operator.EQ, (43,), False),
    (0, Operator.NE, (MAX_AGE,), True),
    (MAX_AGE, Operator.NE, (0,), True),
    (42, Operator.NE, (42,), False),
]


@pytest.mark.parametrize(("value", "op", "operands", "expected"), INTEGER_CASES)
def test_integer_predicates_answer_and_verify_at_the_boundaries(
    value: int, op: Operator, operands: tuple[int, ...], expected: bool, context: Context
) -> None:
    commitment, opening = commit(AGE, value)
    statement = Statement(AGE, commitment, Predicate(op, operands))
    result = answer(statement, opening, context)
    assert result.holds is expected
    verify_answer(result, context)
    assert result.proven == (statement if expected else statement.negated())
    verify_answer(Answer.from_json(result.to_json()), context)


CATEGORICAL_CASES = [
    ("Shanghai", Operator.EQ, ("Shanghai",), True),
    ("Beijing", Operator.EQ, ("Shanghai",), False),
    ("Beijing", Operator.NE, ("Shanghai",), True),
    ("P0420", Operator.IN, ("P0420", "P0300"), True),
    ("P0300", Operator.IN, ("P0420", "P0300"), True),
    ("P0171", Operator.IN, ("P0420", "P0300"), False),
    ("P0171", Operator.NOT_IN, ("P0420", "P0300"), True),
    ("P0420", Operator.NOT_IN, ("P0420",), False),
    ("", Operator.IN, ("",), True),
]


@pytest.mark.parametrize(("value", "op", "operands", "expected"), CATEGORICAL_CASES)
def test_categorical_predicates_answer_and_verify(
    value: str, op: Operator, operands: tuple[str, ...], expected: bool, context: Context
) -> None:
    schema = FAULT_CODE if value.startswith("P") else CITY
    commitment, opening = commit(schema, value)
    result = answer(Statement(schema, commitment, Predicate(op, operands)), opening, context)
    assert result.holds is expected
    verify_answer(result, context)


@pytest.mark.parametrize(
    ("schema", "value", "predicate"),
    [
        (INCOME_CENTS, 30_000_000, Predicate(Operator.WITHIN, (30_000_000, 100_000_000))),
        (INCOME_CENTS, INCOME_CENTS.max_value, Predicate(Operator.GE, (100_000_000,))),
        (BIRTH_DAY, 0, Predicate(Operator.LT, (20_000,))),
        (AttributeSchema.integer("flag", 1), 1, Predicate(Operator.GT, (0,))),
        (AttributeSchema.integer("tri", 3), 7, Predicate(Operator.NE, (3,))),
    ],
)
def test_other_bit_widths(schema: AttributeSchema, value: int, predicate: Predicate, context: Context) -> None:
    commitment, opening = commit(schema, value)
    statement = Statement(schema, commitment, predicate)
    verify(statement, prove(statement, opening, context), context)


def test_a_32_bit_range_proof_fits_in_700_bytes(context: Context) -> None:
    commitment, opening = commit(BIRTH_DAY, 19_000)
    statement = Statement(BIRTH_DAY, commitment, Predicate(Operator.GE, (18_000,)))
    assert len(prove(statement, opening, context)) <= 700


@pytest.mark.parametrize(("value", "op", "operands", "expected"), [c for c in INTEGER_CASES if not c[3]])
def test_the_honest_prover_refuses_a_false_integer_statement(
    value: int, op: Operator, operands: tuple[int, ...], expected: bool, context: Context
) -> None:
    commitment, opening = commit(AGE, value)
    with pytest.raises(ProofRefused):
        prove(Statement(AGE, commitment, Predicate(op, operands)), opening, context)


@pytest.mark.parametrize(("value", "op", "operands", "expected"), [c for c in CATEGORICAL_CASES if not c[3]])
def test_the_honest_prover_refuses_a_false_categorical_statement(
    value: str, op: Operator, operands: tuple[str, ...], expected: bool, context: Context
) -> None:
    commitment, opening = commit(FAULT_CODE, value)
    with pytest.raises(ProofRefused):
        prove(Statement(FAULT_CODE, commitment, Predicate(op, operands)), opening, context)


def test_an_opening_of_another_commitment_is_refused(context: Context) -> None:
    commitment, _ = commit(AGE, 30)
    _, other = commit(AGE, 30)
    with pytest.raises(ProofRefused, match="does not open"):
        prove(Statement(AGE, commitment, Predicate(Operator.GE, (18,))), other, context)


def test_values_outside_the_bit_width_are_refused(context: Context) -> None:
    commitment, opening = commit(AgeWide := AttributeSchema.integer("age", 9), 300)
    assert AgeWide.max_value == 511
    statement = Statement(AGE, commitment, Predicate(Operator.GE, (18,)))
    with pytest.raises(SchemaError, match="outside the 8-bit range"):
        prove(statement, Opening(300, opening.blinding), context)


@pytest.mark.parametrize(
    "predicate",
    [Predicate(Operator.LT, (0,)), Predicate(Operator.GT, (MAX_AGE,)), Predicate(Operator.OUTSIDE, (0, MAX_AGE))],
)
def test_unsatisfiable_predicates_have_no_proof(predicate: Predicate, context: Context) -> None:
    commitment, opening = commit(AGE, 30)
    statement = Statement(AGE, commitment, predicate)
    with pytest.raises(ProofRefused):
        prove(statement, opening, context)
    result = answer(statement, opening, context)
    assert result.holds is False
    verify_answer(result, context)
    witness = answer(Statement(AGE, commitment, Predicate(Operator.GE, (0,))), opening, context).proof
    with pytest.raises(VerificationError, match="unsatisfiable"):
        verify(statement, witness, context)


@pytest.mark.parametrize(
    ("schema", "predicate", "message"),
    [
        (AGE, Predicate(Operator.IN, (1, 2)), "does not apply"),
        (CITY, Predicate(Operator.GE, ("a",)), "does not apply"),
        (AGE, Predicate(Operator.GE, (256,)), "outside the 8-bit range"),
        (AGE, Predicate(Operator.GE, (18, 19)), "exactly one operand"),
        (AGE, Predicate(Operator.WITHIN, (65, 18)), "low <= high"),
        (AGE, Predicate(Operator.EQ, ("18",)), "must be an integer"),
        (CITY, Predicate(Operator.IN, ("a", "a")), "distinct"),
        (CITY, Predicate(Operator.IN, ()), "1 to 64"),
        (CITY, Predicate(Operator.EQ, (1,)), "must be a string"),
    ],
)
def test_statements_the_schema_does_not_admit_are_refused(
    schema: AttributeSchema, predicate: Predicate, message: str
) -> None:
    commitment, _ = commit(AGE, 1)
    with pytest.raises(SchemaError, match=message):
        Statement(schema, commitment, predicate)


def test_expired_context_is_refused_when_the_verifier_gives_the_time(context: Context) -> None:
    from datetime import UTC, datetime

    commitment, opening = commit(AGE, 30)
    statement = Statement(AGE, commitment, Predicate(Operator.GE, (18,)))
    proof = prove(statement, opening, context)
    verify(statement, proof, context, now=datetime(2029, 12, 31, tzinfo=UTC))
    with pytest.raises(VerificationError, match="expired"):
        verify(statement, proof, context, now=datetime(2030, 1, 1, tzinfo=UTC))


def test_operators_given_as_strings_are_parsed_and_unknown_ones_refused() -> None:
    assert Predicate(">=", [18]) == Predicate(Operator.GE, (18,))  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="unknown predicate operator"):
        Predicate("≥", (18,))  # type: ignore[arg-type]


_WIDTH = AttributeSchema.integer("small", 5)
_values = st.integers(0, _WIDTH.max_value)


@st.composite
def _integer_predicates(draw: st.DrawFn) -> Predicate:
    op = draw(st.sampled_from(sorted(INTEGER_OPERATORS)))
    if op in (Operator.WITHIN, Operator.OUTSIDE):
        low, high = sorted((draw(_values), draw(_values)))
        return Predicate(op, (low, high))
    return Predicate(op, (draw(_values),))


@settings(max_examples=40, deadline=None)
@given(_values, _integer_predicates())
def test_any_answer_matches_plain_evaluation_and_verifies(value: int, predicate: Predicate) -> None:
    context = Context("n", "c", "p", "2030-01-01T00:00:00Z")
    commitment, opening = commit(_WIDTH, value)
    statement = Statement(_WIDTH, commitment, predicate)
    result = answer(statement, opening, context)
    assert result.holds is predicate.holds(_WIDTH, value)
    verify_answer(result, context)
    with pytest.raises(ProofRefused):
        prove(statement.negated() if result.holds else statement, opening, context)
