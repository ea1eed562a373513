"""What is proved, and to whom: predicates, statements and the verifier's context, as plain JSON-able data.

A statement names the attribute schema, the commitment and the predicate; the context names the
verifier (nonce, client id, purpose, expiry, and an optional anchor such as the ledger entry of the
commitment). Both are absorbed whole into the Fiat–Shamir transcript, so a proof cannot be moved to
another commitment, predicate, verifier or purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from zkp.errors import EncodingError, SchemaError
from zkp.pedersen import Commitment
from zkp.schema import AttributeKind, AttributeSchema
from zkp.transcript import Transcript

MAX_SET_SIZE = 64


class Operator(StrEnum):
    GE = ">="
    LE = "<="
    GT = ">"
    LT = "<"
    WITHIN = "within"
    OUTSIDE = "outside"
    EQ = "=="
    NE = "!="
    IN = "in"
    NOT_IN = "not in"


NEGATION = {
    Operator.GE: Operator.LT,
    Operator.LT: Operator.GE,
    Operator.LE: Operator.GT,
    Operator.GT: Operator.LE,
    Operator.WITHIN: Operator.OUTSIDE,
    Operator.OUTSIDE: Operator.WITHIN,
    Operator.EQ: Operator.NE,
    Operator.NE: Operator.EQ,
    Operator.IN: Operator.NOT_IN,
    Operator.NOT_IN: Operator.IN,
}
_SINGLE = {Operator.GE, Operator.LE, Operator.GT, Operator.LT, Operator.EQ, Operator.NE}
_PAIR = {Operator.WITHIN, Operator.OUTSIDE}
_SET = {Operator.IN, Operator.NOT_IN}
INTEGER_OPERATORS = frozenset(_SINGLE | _PAIR)
CATEGORICAL_OPERATORS = frozenset({Operator.EQ, Operator.NE, *_SET})


@dataclass(frozen=True)
class Predicate:
    """An operator and its operands: one bound, [low, high] for within/outside, a set for in/not in."""

    op: Operator
    operands: tuple[int | str, ...]

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", Operator(self.op))
        except ValueError as exc:
            raise SchemaError(f"unknown predicate operator {self.op!r}") from exc
        object.__setattr__(self, "operands", tuple(self.operands))

    def negated(self) -> Predicate:
        return Predicate(NEGATION[self.op], self.operands)

    def check(self, schema: AttributeSchema) -> None:
        """Refuse operators and operands that the schema does not admit."""
        allowed = INTEGER_OPERATORS if schema.kind is AttributeKind.INTEGER else CATEGORICAL_OPERATORS
        if self.op not in allowed:
            kind = schema.kind.value
            raise SchemaError(f"operator {self.op.value!r} does not apply to {kind} attribute {schema.name!r}")
        if self.op in _SINGLE and len(self.operands) != 1:
            raise SchemaError(f"operator {self.op.value!r} takes exactly one operand")
        if self.op in _PAIR and len(self.operands) != 2:
            raise SchemaError(f"operator {self.op.value!r} takes two operands [low, high]")
        if self.op in _SET and not 1 <= len(self.operands) <= MAX_SET_SIZE:
            raise SchemaError(f"operator {self.op.value!r} takes 1 to {MAX_SET_SIZE} values")
        for operand in self.operands:
            if schema.kind is AttributeKind.INTEGER:
                schema.check_integer(operand, "operand")
            else:
                schema.check_category(operand, "operand")
        if self.op in _PAIR and self.int_operand(0) > self.int_operand(1):
            raise SchemaError("interval bounds must satisfy low <= high")
        if self.op in _SET and len(set(self.operands)) != len(self.operands):
            raise SchemaError("set operands must be distinct")

    def int_operand(self, index: int) -> int:
        value = self.operands[index]
        if not isinstance(value, int):
            raise SchemaError("operand must be an integer")
        return value

    def holds(self, schema: AttributeSchema, value: int | str | Sequence[str]) -> bool:
        """Evaluate the predicate on a plain value (what the prover does before choosing what to prove).

        On a set every element counts: `== x` holds when x is one of the elements, `in X` when any element
        is in X, and `!=`, `not in` are their negations."""
        self.check(schema)
        if schema.kind is AttributeKind.INTEGER:
            v = schema.check_integer(value)
            if self.op in _PAIR:
                inside = self.int_operand(0) <= v <= self.int_operand(1)
                return inside if self.op is Operator.WITHIN else not inside
            bound = self.int_operand(0)
            return {
                Operator.GE: v >= bound,
                Operator.LE: v <= bound,
                Operator.GT: v > bound,
                Operator.LT: v < bound,
                Operator.EQ: v == bound,
                Operator.NE: v != bound,
            }[self.op]
        if schema.kind is AttributeKind.CATEGORICAL_SET:
            member = any(operand in schema.check_set(value) for operand in self.operands)
        else:
            member = schema.check_category(value) in self.operands
        return member if self.op in (Operator.EQ, Operator.IN) else not member

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op.value, "operands": list(self.operands)}

    @classmethod
    def from_json(cls, data: object) -> Predicate:
        if not isinstance(data, dict) or set(data) != {"op", "operands"}:
            raise EncodingError("predicate is an object with exactly op and operands")
        try:
            op = Operator(data["op"])
        except ValueError as exc:
            raise EncodingError(f"unknown predicate operator {data['op']!r}") from exc
        operands = data["operands"]
        if not isinstance(operands, list) or not all(
            isinstance(o, int | str) and not isinstance(o, bool) for o in operands
        ):
            raise EncodingError("predicate operands are a list of integers or strings")
        return cls(op, tuple(operands))


@dataclass(frozen=True)
class Statement:
    """ "The value committed in `commitment` for attribute `attribute` satisfies `predicate`"."""

    attribute: AttributeSchema
    commitment: Commitment
    predicate: Predicate

    def __post_init__(self) -> None:
        if self.attribute.kind is AttributeKind.CATEGORICAL_SET:
            raise SchemaError(f"set attribute {self.attribute.name!r} has one commitment per element (zkp.sets)")
        self.predicate.check(self.attribute)

    def negated(self) -> Statement:
        return Statement(self.attribute, self.commitment, self.predicate.negated())

    def absorb(self, transcript: Transcript) -> None:
        transcript.append_message("attribute/name", self.attribute.name.encode())
        transcript.append_message("attribute/kind", self.attribute.kind.value.encode())
        transcript.append_int("attribute/bit_width", self.attribute.bit_width)
        transcript.append_point("commitment", self.commitment.point)
        transcript.append_message("predicate/op", self.predicate.op.value.encode())
        transcript.append_int("predicate/operand_count", len(self.predicate.operands))
        for operand in self.predicate.operands:
            if isinstance(operand, int):
                transcript.append_int("predicate/operand/int", operand)
            else:
                transcript.append_message("predicate/operand/str", operand.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute.to_json(),
            "commitment": self.commitment.to_json(),
            "predicate": self.predicate.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> Statement:
        if not isinstance(data, dict) or set(data) != {"attribute", "commitment", "predicate"}:
            raise EncodingError("statement is an object with exactly attribute, commitment and predicate")
        try:
            return cls(
                AttributeSchema.from_json(data["attribute"]),
                Commitment.from_json(data["commitment"]),
                Predicate.from_json(data["predicate"]),
            )
        except SchemaError as exc:
            raise EncodingError(f"statement is not well-formed: {exc}") from exc


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EncodingError(f"expires_at {text!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        raise EncodingError("expires_at must carry a time zone (UTC)")
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Context:
    """Who asked, why, until when: the verifier's nonce, client id, purpose, expiry and optional anchor."""

    nonce: str
    client_id: str
    purpose: str
    expires_at: str
    anchor: str = ""

    def __post_init__(self) -> None:
        for name in ("nonce", "client_id", "purpose"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise EncodingError(f"context {name} must be a non-empty string")
        if not isinstance(self.anchor, str):
            raise EncodingError("context anchor must be a string")
        _parse_time(self.expires_at)

    @property
    def expiry(self) -> datetime:
        return _parse_time(self.expires_at)

    def absorb(self, transcript: Transcript) -> None:
        transcript.append_message("context/nonce", self.nonce.encode())
        transcript.append_message("context/client_id", self.client_id.encode())
        transcript.append_message("context/purpose", self.purpose.encode())
        transcript.append_message("context/expires_at", self.expires_at.encode())
        transcript.append_message("context/anchor", self.anchor.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "client_id": self.client_id,
            "purpose": self.purpose,
            "expires_at": self.expires_at,
            "anchor": self.anchor,
        }

    @classmethod
    def from_json(cls, data: object) -> Context:
        keys = {"nonce", "client_id", "purpose", "expires_at", "anchor"}
        if not isinstance(data, dict) or not {"nonce", "client_id", "purpose", "expires_at"} <= set(data) <= keys:
            raise EncodingError("context is an object with nonce, client_id, purpose, expires_at and optional anchor")
        if not all(isinstance(v, str) for v in data.values()):
            raise EncodingError("context fields are strings")
        return cls(**data)
