"""Every operator a template may use, on every attribute kind, answered from a source-signed statement.

The operator lists come from `zkp.statement` (the operators each kind admits), so a new operator or kind
is covered here or fails here. Each answer is checked against plain Python semantics, and a flipped answer
must fail: a "no" is as verifiable as a "yes".
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.zkp.statement_world import World
from zkp import (
    AttributeKind,
    AttributeSchema,
    Operator,
    Predicate,
    QuestionTemplate,
    VerificationError,
    answer_question,
    check_answer_proof,
)
from zkp.statement import CATEGORICAL_OPERATORS, INTEGER_OPERATORS

SCHEMAS = {
    AttributeKind.INTEGER: AttributeSchema.integer("age", 8),
    AttributeKind.CATEGORICAL: AttributeSchema.categorical("city"),
    AttributeKind.CATEGORICAL_SET: AttributeSchema.categorical_set("fault_code", 4),
}
VALUES: dict[AttributeKind, list[Any]] = {
    AttributeKind.INTEGER: [0, 17, 18, 30, 65, 66, 255],
    AttributeKind.CATEGORICAL: ["Shanghai", "Shenzhen"],
    AttributeKind.CATEGORICAL_SET: [[], ["P0301"], ["P0301", "P0420"], ["P0171", "P0300", "P0420", "P0455"]],
}


def _operands(kind: AttributeKind, op: Operator) -> tuple[int | str, ...]:
    if kind is AttributeKind.INTEGER:
        return (
            (18, 65) if op in (Operator.WITHIN, Operator.OUTSIDE) else (18 if op in (Operator.GE, Operator.LT) else 30,)
        )
    if op in (Operator.IN, Operator.NOT_IN):
        return ("Shanghai", "Beijing") if kind is AttributeKind.CATEGORICAL else ("P0420", "P0300")
    return ("Shanghai",) if kind is AttributeKind.CATEGORICAL else ("P0420",)


def _python(kind: AttributeKind, op: Operator, operands: tuple[Any, ...], value: Any) -> bool:
    """The meaning a reader expects, written without zkp: on a set, every element counts."""
    if kind is AttributeKind.CATEGORICAL_SET:
        member = any(o in value for o in operands)
        return member if op in (Operator.EQ, Operator.IN) else not member
    if kind is AttributeKind.CATEGORICAL:
        return (value in operands) == (op in (Operator.EQ, Operator.IN))
    low, high = operands[0], operands[-1]
    return {
        Operator.GE: value >= low,
        Operator.LE: value <= low,
        Operator.GT: value > low,
        Operator.LT: value < low,
        Operator.EQ: value == low,
        Operator.NE: value != low,
        Operator.WITHIN: low <= value <= high,
        Operator.OUTSIDE: not low <= value <= high,
    }[op]


CASES = [
    (kind, op)
    for kind in AttributeKind
    for op in sorted(INTEGER_OPERATORS if kind is AttributeKind.INTEGER else CATEGORICAL_OPERATORS)
]


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.mark.parametrize(("kind", "op"), CASES, ids=[f"{k.value} {o.value}" for k, o in CASES])
def test_every_operator_answers_as_plain_semantics_say_and_a_flipped_answer_fails(
    world: World, kind: AttributeKind, op: Operator
) -> None:
    schema = SCHEMAS[kind]
    operands = _operands(kind, op)
    template = QuestionTemplate(f"{schema.name}-{op.value}", schema.name, Predicate(op, operands))
    for value in VALUES[kind]:
        held = world.issue(schema, "cust-1001", value)
        answer = answer_question(held, world.question(template, "cust-1001"))
        assert answer.holds is _python(kind, op, operands, value), value
        check_answer_proof(answer)
        with pytest.raises(VerificationError):
            check_answer_proof(dataclasses.replace(answer, holds=not answer.holds))


def test_the_issue_s_fault_code_example_has_set_semantics(world: World) -> None:
    """Issue 15: `fault_code == P0420` answered a verified "no" for a car reporting ["P0301", "P0420"]."""
    held = world.issue(SCHEMAS[AttributeKind.CATEGORICAL_SET], "cust-1001", ["P0301", "P0420"])
    for op, operands, expected in (
        (Operator.EQ, ("P0420",), True),
        (Operator.IN, ("P0420", "P0300"), True),
        (Operator.IN, ("P0171", "P0300"), False),
        (Operator.NE, ("P0301",), False),
    ):
        template = QuestionTemplate("codes", "fault_code", Predicate(op, operands))
        answer = answer_question(held, world.question(template, "cust-1001"))
        assert answer.holds is expected, (op, operands)
        check_answer_proof(answer)
