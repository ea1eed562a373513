"""Set-valued attributes: every element counts, and a proof reveals nothing about the other elements.

The source commits each element on its own and pads to the schema's declared maximum with commitments to
zero (C_i = 0·G + r_i·H), in a random order. A verifier always sees `max_elements` commitments, whatever
the set's size, and (Pedersen commitments being perfectly hiding) cannot tell padding from elements. A
category's scalar is a hash (`category_scalar`), zero only by a 2^-256 accident, so padding never equals a
category.

With T_{i,x} = C_i − s_x·G, a commitment to zero exactly when slot i holds category x:
- `== x` (the set contains x) and `in X` (it contains any of X): one OR-proof that some T_{i,x} commits to
  zero, over every slot i and every operand x, hiding which slot and which operand;
- `!= x` and `not in X` (their negations): every T_{i,x} commits to a non-zero value, in one proof.
A "yes" costs 64 bytes and a "no" 64 bytes (plus 32) per slot × operand.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zkp.encoding import ProofReader, ProofWriter, b64url_decode, b64url_encode
from zkp.errors import EncodingError, ProofRefused, SchemaError
from zkp.group import ORDER, G, Point, random_scalar, scalar_from_bytes, scalar_to_bytes
from zkp.pedersen import Commitment, commitment_point
from zkp.schema import AttributeKind, AttributeSchema, category_scalar
from zkp.sigma import prove_all_nonzero, prove_one_of_zero, verify_all_nonzero, verify_one_of_zero
from zkp.statement import Operator, Predicate
from zkp.transcript import Transcript

PADDING_SCALAR = 0


@dataclass(frozen=True)
class SetOpening:
    """The secret behind a set's commitments: per slot, its element (None for padding) and blinding."""

    slots: tuple[str | None, ...]
    blindings: tuple[int, ...]

    def __repr__(self) -> str:
        return "SetOpening(<secret>)"

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(sorted(slot for slot in self.slots if slot is not None))

    def to_json(self) -> dict[str, Any]:
        return {"slots": list(self.slots), "blindings": [b64url_encode(scalar_to_bytes(b)) for b in self.blindings]}

    @classmethod
    def from_json(cls, data: object) -> SetOpening:
        if not isinstance(data, dict) or set(data) != {"slots", "blindings"}:
            raise EncodingError("a set opening is an object with exactly slots and blindings")
        slots, blindings = data["slots"], data["blindings"]
        if not isinstance(slots, list) or not all(slot is None or isinstance(slot, str) for slot in slots):
            raise EncodingError("set opening slots are a list of strings and nulls")
        if not isinstance(blindings, list) or len(blindings) != len(slots):
            raise EncodingError("a set opening has one blinding per slot")
        if not all(isinstance(b, str) for b in blindings):
            raise EncodingError("set opening blindings are base64url strings")
        return cls(tuple(slots), tuple(scalar_from_bytes(b64url_decode(b)) for b in blindings))


def _slot_scalar(schema: AttributeSchema, slot: str | None) -> int:
    return PADDING_SCALAR if slot is None else category_scalar(schema.name, slot)


def commit_set(schema: AttributeSchema, elements: Sequence[str]) -> tuple[tuple[Commitment, ...], SetOpening]:
    """Commit to a set: its elements and padding, shuffled into `schema.max_elements` slots."""
    checked = schema.check_set(list(elements))
    slots: list[str | None] = [*checked, *([None] * (schema.max_elements - len(checked)))]
    secrets.SystemRandom().shuffle(slots)
    blindings = tuple(random_scalar() for _ in slots)
    commitments = tuple(
        Commitment(commitment_point(_slot_scalar(schema, slot), blinding))
        for slot, blinding in zip(slots, blindings, strict=True)
    )
    return commitments, SetOpening(tuple(slots), blindings)


def check_set_opening(schema: AttributeSchema, commitments: Sequence[Commitment], opening: SetOpening) -> None:
    """Refuse (`ProofRefused`) an opening that does not open these commitments slot by slot."""
    if len(opening.slots) != len(commitments) or len(commitments) != schema.max_elements:
        raise ProofRefused("the set opening does not have one slot per commitment")
    try:
        schema.check_set(list(opening.elements))
    except SchemaError as exc:
        raise ProofRefused(f"the set opening is not a set of {schema.name!r}: {exc}") from exc
    for slot, blinding, commitment in zip(opening.slots, opening.blindings, commitments, strict=True):
        if commitment_point(_slot_scalar(schema, slot), blinding) != commitment.point:
            raise ProofRefused("the set opening does not open these commitments")


def _targets(schema: AttributeSchema, commitments: Sequence[Commitment], operands: Sequence[str]) -> list[Point]:
    """T_{i,x} for every slot i (outer) and operand x (inner)."""
    scalars = [category_scalar(schema.name, x) % ORDER for x in operands]
    return [c.point - s * G for c in commitments for s in scalars]


def _check(schema: AttributeSchema, predicate: Predicate) -> tuple[str, ...]:
    if schema.kind is not AttributeKind.CATEGORICAL_SET:
        raise SchemaError(f"attribute {schema.name!r} is not a set")
    predicate.check(schema)
    return tuple(schema.check_category(o, "operand") for o in predicate.operands)


def prove_set(
    transcript: Transcript,
    writer: ProofWriter,
    schema: AttributeSchema,
    commitments: Sequence[Commitment],
    predicate: Predicate,
    opening: SetOpening,
) -> None:
    """Write the proof that the committed set satisfies `predicate`; refuses unless it does."""
    operands = _check(schema, predicate)
    check_set_opening(schema, commitments, opening)
    if not predicate.holds(schema, list(opening.elements)):
        raise ProofRefused(f"the predicate {predicate.op.value!r} is false for this set")
    targets = _targets(schema, commitments, operands)
    pairs = [
        (slot, blinding, x) for slot, blinding in zip(opening.slots, opening.blindings, strict=True) for x in operands
    ]
    if predicate.op in (Operator.EQ, Operator.IN):
        index = next(i for i, (slot, _, x) in enumerate(pairs) if slot == x)
        prove_one_of_zero(transcript, writer, "set/any", targets, index, pairs[index][1])
        return
    values = [(_slot_scalar(schema, slot) - category_scalar(schema.name, x)) % ORDER for slot, _, x in pairs]
    prove_all_nonzero(transcript, writer, "set/none", targets, values, [b for _, b, _ in pairs])


def verify_set(
    transcript: Transcript,
    reader: ProofReader,
    schema: AttributeSchema,
    commitments: Sequence[Commitment],
    predicate: Predicate,
) -> None:
    """Read and check the proof that the committed set satisfies `predicate` (`VerificationError` otherwise)."""
    operands = _check(schema, predicate)
    if len(commitments) != schema.max_elements:
        raise SchemaError(f"set attribute {schema.name!r} takes {schema.max_elements} commitments")
    targets = _targets(schema, commitments, operands)
    if predicate.op in (Operator.EQ, Operator.IN):
        verify_one_of_zero(transcript, reader, "set/any", targets)
    else:
        verify_all_nonzero(transcript, reader, "set/none", targets)
