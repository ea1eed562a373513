"""Attribute schemas: what kind of value an attribute holds and how it maps to a scalar.

Integer attributes have a fixed bit width (age 8, income in cents 48, dates as day numbers 16 or 32);
every range proof is relative to it, so a committed value outside [0, 2^width) can never be proved in
range. Categorical attributes (city, fault code) are hashed to a scalar together with the attribute
name, so equal strings of different attributes commit to unrelated scalars.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zkp.errors import EncodingError, SchemaError
from zkp.group import ORDER

MAX_BIT_WIDTH = 64
CATEGORICAL_TAG = b"consentry/zkp/v1/categorical"


class AttributeKind(StrEnum):
    INTEGER = "integer"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class AttributeSchema:
    """An attribute's name, kind and (for integers) bit width; categorical attributes use width 0."""

    name: str
    kind: AttributeKind
    bit_width: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise SchemaError("attribute name must not be empty")
        if not isinstance(self.kind, AttributeKind):
            raise SchemaError(f"attribute kind must be one of {[k.value for k in AttributeKind]}")
        if self.kind is AttributeKind.INTEGER and not 1 <= self.bit_width <= MAX_BIT_WIDTH:
            raise SchemaError(f"integer attribute {self.name!r} needs a bit width in 1..{MAX_BIT_WIDTH}")
        if self.kind is AttributeKind.CATEGORICAL and self.bit_width != 0:
            raise SchemaError(f"categorical attribute {self.name!r} has no bit width (use 0)")

    @classmethod
    def integer(cls, name: str, bit_width: int) -> AttributeSchema:
        return cls(name, AttributeKind.INTEGER, bit_width)

    @classmethod
    def categorical(cls, name: str) -> AttributeSchema:
        return cls(name, AttributeKind.CATEGORICAL, 0)

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
        if self.kind is not AttributeKind.CATEGORICAL:
            raise SchemaError(f"attribute {self.name!r} is an integer; {what} must be an integer")
        if not isinstance(value, str):
            raise SchemaError(f"{what} of categorical attribute {self.name!r} must be a string")
        return value

    def scalar(self, value: int | str) -> int:
        """The scalar that is committed for `value` (checked against the schema)."""
        if self.kind is AttributeKind.INTEGER:
            return self.check_integer(value)
        return category_scalar(self.name, self.check_category(value))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "bit_width": self.bit_width}

    @classmethod
    def from_json(cls, data: object) -> AttributeSchema:
        if not isinstance(data, dict) or set(data) != {"name", "kind", "bit_width"}:
            raise EncodingError("attribute schema is an object with exactly name, kind and bit_width")
        name, kind, width = data["name"], data["kind"], data["bit_width"]
        if not isinstance(name, str) or not isinstance(width, int) or isinstance(width, bool):
            raise EncodingError("attribute schema name is a string and bit_width an integer")
        try:
            parsed_kind = AttributeKind(kind)
        except ValueError as exc:
            raise EncodingError(f"unknown attribute kind {kind!r}") from exc
        return cls(name, parsed_kind, width)


def category_scalar(attribute: str, value: str) -> int:
    """SHA-512 over the tag, the attribute name and the value (each length-prefixed), reduced mod the order."""
    digest = hashlib.sha512()
    for part in (CATEGORICAL_TAG, attribute.encode(), value.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return int.from_bytes(digest.digest(), "big") % ORDER
