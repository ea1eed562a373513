"""Predicate proofs: each statement is reduced to the Σ-protocols and range proofs that establish it.

Integer attributes (M = 2^width, n = the smallest power of two ≥ width, all range proofs n-bit):
- `>= x`, `<= x`, `> x`, `< x`, `within [a, b]` become v ∈ [a, b] with a, b inside [0, M−1]:
  one aggregated range proof that v − a ≥ 0 and b − v ≥ 0 (commitments C − a·G and b·G − C).
- `== x`: C − x·G commits to zero.
- `!= x`: C − x·G commits to a non-zero value, and v ∈ [0, M−1].
- `outside [a, b]` (the negation of within) without revealing which side: the prover commits to a bit
  β (β = 1 when v < a) and shows u = v − b − 1 + β·M ∈ [0, M − 2 − (b − a)] and v ∈ [0, M − 1].
  β = 0 gives v > b; β = 1 gives v ≤ a − 1; all values are far below the group order, so nothing wraps.
Categorical attributes (s_x = the scalar of category x): `==`/`!=` as above on C − s_x·G;
`in` is an OR-proof that C − s_x·G commits to zero for one hidden x of the set; `not in` is one
non-zero proof per member.
An unsatisfiable statement (`< 0`, `outside [0, M−1]`) has no valid proof; the verifier says so.
"""

from __future__ import annotations

from zkp import bulletproofs
from zkp.encoding import ProofReader, ProofWriter
from zkp.errors import ProofRefused, VerificationError
from zkp.group import ORDER, G, H, Point, random_scalar
from zkp.schema import AttributeKind, AttributeSchema, category_scalar
from zkp.sigma import (
    prove_nonzero,
    prove_one_of_zero,
    prove_zero,
    verify_nonzero,
    verify_one_of_zero,
    verify_zero,
)
from zkp.statement import Operator, Statement
from zkp.transcript import Transcript


def range_bits(schema: AttributeSchema) -> int:
    return 1 << (schema.bit_width - 1).bit_length()


def interval(statement: Statement) -> tuple[int, int]:
    """[low, high] for the interval operators; empty (low > high) when unsatisfiable."""
    p, top = statement.predicate, statement.attribute.max_value
    match p.op:
        case Operator.GE:
            return p.int_operand(0), top
        case Operator.GT:
            return p.int_operand(0) + 1, top
        case Operator.LE:
            return 0, p.int_operand(0)
        case Operator.LT:
            return 0, p.int_operand(0) - 1
        case _:
            return p.int_operand(0), p.int_operand(1)


def _outside_span(statement: Statement) -> int:
    """The upper bound of u for `outside [a, b]`; negative when [a, b] covers the whole width."""
    low, high = statement.predicate.int_operand(0), statement.predicate.int_operand(1)
    return statement.attribute.max_value - (high - low + 1)


def _operand_scalars(statement: Statement) -> list[int]:
    """The committed-scalar form of each operand (categories hashed with the attribute name)."""
    name = statement.attribute.name
    return [category_scalar(name, o) if isinstance(o, str) else o for o in statement.predicate.operands]


def _targets(statement: Statement) -> list[Point]:
    """C − s·G for every operand s: a commitment to zero exactly when the value equals that operand."""
    c = statement.commitment.point
    return [c - s % ORDER * G for s in _operand_scalars(statement)]


def prove_statement(transcript: Transcript, writer: ProofWriter, statement: Statement, v: int, r: int) -> None:
    """Write the proof of `statement` for the opening (v, r); the caller has checked it holds."""
    schema, op, c = statement.attribute, statement.predicate.op, statement.commitment.point
    if schema.kind is AttributeKind.CATEGORICAL:
        targets = _targets(statement)
        if op is Operator.EQ:
            prove_zero(transcript, writer, "eq", targets[0], r)
        elif op is Operator.IN:
            prove_one_of_zero(transcript, writer, "in", targets, _operand_scalars(statement).index(v), r)
        else:
            for i, (target, s) in enumerate(zip(targets, _operand_scalars(statement), strict=True)):
                prove_nonzero(transcript, writer, f"ne{i}", target, v - s, r)
        return
    n, top = range_bits(schema), schema.max_value
    if op is Operator.EQ:
        prove_zero(transcript, writer, "eq", _targets(statement)[0], r)
    elif op is Operator.NE:
        x = statement.predicate.int_operand(0)
        prove_nonzero(transcript, writer, "ne0", _targets(statement)[0], v - x, r)
        bulletproofs.prove_range(transcript, writer, "range", n, [c, top * G - c], [v, top - v], [r, -r % ORDER])
    elif op is Operator.OUTSIDE:
        low, high = statement.predicate.int_operand(0), statement.predicate.int_operand(1)
        span, modulus = _outside_span(statement), top + 1
        beta, r_beta = (1 if v < low else 0), random_scalar()
        big_b = beta * G + r_beta * H
        transcript.append_point("outside/B", big_b)
        writer.point(big_b)
        prove_one_of_zero(transcript, writer, "outside/bit", [big_b, big_b - G], beta, r_beta)
        c_u = c - (high + 1) * G + modulus * big_b
        u, r_u = v - high - 1 + beta * modulus, (r + modulus * r_beta) % ORDER
        bulletproofs.prove_range(
            transcript,
            writer,
            "range",
            n,
            [c_u, span * G - c_u, c, top * G - c],
            [u, span - u, v, top - v],
            [r_u, -r_u % ORDER, r, -r % ORDER],
        )
    else:
        low, high = interval(statement)
        bulletproofs.prove_range(
            transcript, writer, "range", n, [c - low * G, high * G - c], [v - low, high - v], [r, -r % ORDER]
        )


def verify_statement(transcript: Transcript, reader: ProofReader, statement: Statement) -> None:
    """Read and check the proof of `statement`, raising `VerificationError` or `EncodingError`."""
    schema, op, c = statement.attribute, statement.predicate.op, statement.commitment.point
    if schema.kind is AttributeKind.CATEGORICAL:
        targets = _targets(statement)
        if op is Operator.EQ:
            verify_zero(transcript, reader, "eq", targets[0])
        elif op is Operator.IN:
            verify_one_of_zero(transcript, reader, "in", targets)
        else:
            for i, target in enumerate(targets):
                verify_nonzero(transcript, reader, f"ne{i}", target)
        return
    n, top = range_bits(schema), schema.max_value
    if op is Operator.EQ:
        verify_zero(transcript, reader, "eq", _targets(statement)[0])
    elif op is Operator.NE:
        verify_nonzero(transcript, reader, "ne0", _targets(statement)[0])
        bulletproofs.verify_range(transcript, reader, "range", n, [c, top * G - c])
    elif op is Operator.OUTSIDE:
        high, span = statement.predicate.int_operand(1), _outside_span(statement)
        if span < 0:
            raise VerificationError("the predicate is unsatisfiable: the interval covers every value of the width")
        big_b = reader.point("outside bit commitment")
        transcript.append_point("outside/B", big_b)
        verify_one_of_zero(transcript, reader, "outside/bit", [big_b, big_b - G])
        c_u = c - (high + 1) * G + (top + 1) * big_b
        bulletproofs.verify_range(transcript, reader, "range", n, [c_u, span * G - c_u, c, top * G - c])
    else:
        low, high = interval(statement)
        if low > high:
            raise VerificationError("the predicate is unsatisfiable for this bit width")
        bulletproofs.verify_range(transcript, reader, "range", n, [c - low * G, high * G - c])


def refuse_unsatisfiable(statement: Statement) -> None:
    if statement.attribute.kind is not AttributeKind.INTEGER:
        return
    op = statement.predicate.op
    if op is Operator.OUTSIDE and _outside_span(statement) < 0:
        raise ProofRefused("outside an interval that covers the whole bit width is never true")
    if op not in (Operator.EQ, Operator.NE, Operator.OUTSIDE):
        low, high = interval(statement)
        if low > high:
            raise ProofRefused("the predicate is unsatisfiable for this bit width")
