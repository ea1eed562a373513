"""Attribute schemas: what kind of value an attribute holds and how it maps to a scalar.

Integer attributes have a fixed bit width (age 8, income in cents 48, dates as day numbers 16 or 32);
every range proof is relative to it, so a committed value outside [0, 2^width) can never be proved in
range. Categorical attributes (city, fault code) are hashed to a scalar together with the attribute
name, so equal strings of different attributes commit to unrelated scalars. A categorical set (the fault
codes a car reports) holds up to a declared number of distinct categories, each committed on its own and
padded to that number (`zkp.sets`), so the commitments never tell how many there are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zkp.errors import EncodingError, SchemaError
from zkp.group import ORDER

MAX_BIT_WIDTH = 64
MAX_SET_ELEMENTS = 16
CATEGORICAL_TAG = b"consentry/zkp/v1/categorical"


class AttributeKind(StrEnum):
    INTEGER = "integer"
    CATEGORICAL = "categorical"
    CATEGORICAL_SET = "categorical_set"


@dataclass(frozen=True)
class AttributeSchema:
    """An attribute's name, kind, bit width (integers only) and maximum number of elements (sets only)."""

    name: str
    kind: AttributeKind
    bit_width: int = 0
    max_elements: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise SchemaError("attribute name must not be empty")
        if not isinstance(self.kind, AttributeKind):
            raise SchemaError(f"attribute kind must be one of {[k.value for k in AttributeKind]}")
        if self.kind is AttributeKind.INTEGER and not 1 <= self.bit_width <= MAX_BIT_WIDTH:
            raise SchemaError(f"integer attribute {self.name!r} needs a bit width in 1..{MAX_BIT_WIDTH}")
        if self.kind is not AttributeKind.INTEGER and self.bit_width != 0:
            raise SchemaError(f"{self.kind.value} attribute {self.name!r} has no bit width (use 0)")
        if self.kind is AttributeKind.CATEGORICAL_SET and not 1 <= self.max_elements <= MAX_SET_ELEMENTS:
            raise SchemaError(f"set attribute {self.name!r} needs a maximum of 1..{MAX_SET_ELEMENTS} elements")
        if self.kind is not AttributeKind.CATEGORICAL_SET and self.max_elements != 0:
            raise SchemaError(f"{self.kind.value} attribute {self.name!r} has no maximum number of elements")

    @classmethod
    def integer(cls, name: str, bit_width: int) -> AttributeSchema:
        return cls(name, AttributeKind.INTEGER, bit_width)

    @classmethod
    def categorical(cls, name: str) -> AttributeSchema:
        return cls(name, AttributeKind.CATEGORICAL, 0)

    @classmethod
    def categorical_set(cls, name: str, max_elements: int) -> AttributeSchema:
        return cls(name, AttributeKind.CATEGORICAL_SET, 0, max_elements)

    @property
    def commitment_count(self) -> int:
        """How many commitments a value of this attribute takes: one per slot for sets, else one."""
        return self.max_elements if self.kind is AttributeKind.CATEGORICAL_SET else 1

    @property
    def max_value(self) -> int:
        """The largest integer value the schema admits, 2^width − 1."""
        if self.kind is not AttributeKind.INTEGER:
            raise SchemaError(f"categorical attribute {self.name!r} has no maximum")
        return (1 << self.bit_width) - 1

    def check_integer(self, value: object, what: str = "value") -> int:
        if self.kind is not AttributeKind.INTEGER:
            raise SchemaError(f"attribute {self.name!r} is categorical; {what} must be a string")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{what} of integer attribute {self.name!r} must be an integer")
        if not 0 <= value <= self.max_value:
            raise SchemaError(f"{what} {value} is outside the {self.bit_width}-bit range of {self.name!r}")
        return value

    def check_category(self, value: object, what: str = "value") -> str:
        """A category: the value of a categorical attribute, or one element (or operand) of a set."""
        if self.kind is AttributeKind.INTEGER:
            raise SchemaError(f"attribute {self.name!r} is an integer; {what} must be an integer")
        if not isinstance(value, str):
            raise SchemaError(f"{what} of categorical attribute {self.name!r} must be a string")
        return value

    def check_set(self, value: object, what: str = "value") -> tuple[str, ...]:
        """The elements of a set value: distinct strings, at most the declared maximum (empty is allowed)."""
        if self.kind is not AttributeKind.CATEGORICAL_SET:
            raise SchemaError(f"attribute {self.name!r} is not a set")
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise SchemaError(f"{what} of set attribute {self.name!r} must be a list of strings")
        elements = tuple(self.check_category(element, f"element of {what}") for element in value)
        if len(set(elements)) != len(elements):
            raise SchemaError(f"{what} of set attribute {self.name!r} has repeated elements")
        if len(elements) > self.max_elements:
            raise SchemaError(f"{what} of set attribute {self.name!r} has more than {self.max_elements} elements")
        return elements

    def scalar(self, value: int | str) -> int:
        """The scalar that is committed for `value` (checked against the schema)."""
        if self.kind is AttributeKind.INTEGER:
            return self.check_integer(value)
        if self.kind is AttributeKind.CATEGORICAL_SET:
            raise SchemaError(f"set attribute {self.name!r} commits each element on its own (zkp.sets)")
        return category_scalar(self.name, self.check_category(value))

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name, "kind": self.kind.value, "bit_width": self.bit_width}
        if self.kind is AttributeKind.CATEGORICAL_SET:
            document["max_elements"] = self.max_elements
        return document

    @classmethod
    def from_json(cls, data: object) -> AttributeSchema:
        keys = {"name", "kind", "bit_width"}
        if not isinstance(data, dict) or not keys <= set(data) <= keys | {"max_elements"}:
            raise EncodingError("attribute schema is an object with name, kind, bit_width and, for sets, max_elements")
        name, kind, width = data["name"], data["kind"], data["bit_width"]
        if not isinstance(name, str) or not isinstance(width, int) or isinstance(width, bool):
            raise EncodingError("attribute schema name is a string and bit_width an integer")
        try:
            parsed_kind = AttributeKind(kind)
        except ValueError as exc:
            raise EncodingError(f"unknown attribute kind {kind!r}") from exc
        elements = data.get("max_elements", 0)
        if isinstance(elements, bool) or not isinstance(elements, int):
            raise EncodingError("attribute schema max_elements is an integer")
        if (parsed_kind is AttributeKind.CATEGORICAL_SET) != ("max_elements" in data):
            raise EncodingError("max_elements is given for set attributes, and only for them")
        try:
            return cls(name, parsed_kind, width, elements)
        except SchemaError as exc:
            raise EncodingError(str(exc)) from exc


def category_scalar(attribute: str, value: str) -> int:
    """SHA-512 over the tag, the attribute name and the value (each length-prefixed), reduced mod the order."""
    digest = hashlib.sha512()
    for part in (CATEGORICAL_TAG, attribute.encode(), value.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return int.from_bytes(digest.digest(), "big") % ORDER
