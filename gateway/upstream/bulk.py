"""A source's bulk resource and the attributes aggregates may read from it, as declared in its registration.

Aggregate statistics (`gateway.analytics`) read many customers at once, so a registration that offers them names
a paged resource (a cursor walks it in subject order, a page at a time, never the whole set in memory) and, for
every attribute, where its value sits in an item, which data category it is (the policy decision is taken on
that category in `aggregate` mode) and its public schema: numeric bounds every value is clamped to, or the
declared values of a low-cardinality attribute statistics may be grouped by. Bounds and values are public
knowledge by construction: the differential privacy guarantee assumes they do not depend on the data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["MAX_CATEGORY_VALUES", "AnalyticsAttribute", "BulkResource", "resolve_pointer"]

MAX_CATEGORY_VALUES = 64
_ATTRIBUTE = r"^[a-z][a-z0-9_]{0,62}$"
_CATEGORY = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$"
_QUERY_NAME = r"^[A-Za-z0-9._~-]{1,64}$"
_POINTER = re.compile(r"(/([^~/]|~[01])*)*")
_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pointer(value: str) -> str:
    if not _POINTER.fullmatch(value):
        raise ValueError(f"{value!r} is not an RFC 6901 JSON Pointer")
    return value


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or None where the document has nothing there."""
    node = document
    if not pointer:
        return node
    for raw in pointer[1:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            if key not in node:
                return None
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and (key == "0" or not key.startswith("0")):
            index = int(key)
            if index >= len(node):
                return None
            node = node[index]
        else:
            return None
    return node


class BulkResource(_Model):
    """``GET path?{limit_query}={page_size}[&{cursor_query}={cursor}]`` answers one page: the items at ``items``
    and the cursor of the next page at ``next`` (null or absent on the last page)."""

    path: str
    items: str = "/items"
    subject: str = "/subject"
    next: str = "/next"
    cursor_query: str = Field(default="after", pattern=_QUERY_NAME)
    limit_query: str = Field(default="limit", pattern=_QUERY_NAME)
    page_size: int = Field(default=1000, ge=1, le=10_000)
    max_pages: int = Field(default=10_000, ge=1, le=1_000_000)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH.fullmatch(value) or any(s in (".", "..") for s in value.split("/")):
            raise ValueError(f"bulk path {value!r} must be an absolute path of plain segments")
        return value

    @field_validator("items", "subject", "next")
    @classmethod
    def _pointers(cls, value: str) -> str:
        return _pointer(value)


class AnalyticsAttribute(_Model):
    """One attribute aggregates may use. ``integer`` and ``number`` carry ``bounds`` (a number is counted in
    steps of ``resolution``, so sums stay exact integers); ``category`` carries its declared ``values``."""

    name: str = Field(pattern=_ATTRIBUTE)
    selector: str
    category: str = Field(pattern=_CATEGORY, max_length=128)
    type: Literal["integer", "number", "category"]
    bounds: tuple[float, float] | None = None
    resolution: float | None = Field(default=None, gt=0)
    unit: str | None = Field(default=None, max_length=32)
    values: tuple[str, ...] = ()

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return _pointer(value)

    @model_validator(mode="after")
    def _schema(self) -> AnalyticsAttribute:
        if self.type == "category":
            if not 1 <= len(self.values) <= MAX_CATEGORY_VALUES or len(set(self.values)) != len(self.values):
                raise ValueError(f"a category attribute declares 1 to {MAX_CATEGORY_VALUES} distinct values")
            if self.bounds is not None or self.resolution is not None:
                raise ValueError("a category attribute has values, not bounds or a resolution")
            return self
        if self.values:
            raise ValueError("a numeric attribute has bounds, not values")
        if self.bounds is None or not all(math.isfinite(b) for b in self.bounds) or self.bounds[0] >= self.bounds[1]:
            raise ValueError("a numeric attribute declares finite bounds [lower, upper] with lower < upper")
        if self.type == "integer" and (self.resolution is not None or not all(b == int(b) for b in self.bounds)):
            raise ValueError("an integer attribute has integer bounds and no resolution")
        if self.type == "number" and self.resolution is None:
            raise ValueError("a number attribute declares its resolution (the step its values are counted in)")
        low, high = self.scaled_bounds
        if max(abs(low), abs(high)) > 2**40:
            raise ValueError("bounds / resolution must stay within 2^40 so sums over millions fit 64 bits")
        return self

    @property
    def step(self) -> float:
        return self.resolution if self.resolution is not None else 1.0

    @property
    def scaled_bounds(self) -> tuple[int, int]:
        """The bounds in whole steps (rounded inwards), the integers OpenDP clamps to."""
        assert self.bounds is not None
        return math.ceil(self.bounds[0] / self.step), math.floor(self.bounds[1] / self.step)

    def scaled(self, value: Any) -> int | None:
        """A numeric item value in whole steps (nearest), or None when it is not a finite number."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        # saturate far outside any declared bounds: OpenDP clamps to the bounds, but takes 64-bit integers
        return max(-(2**62), min(2**62, round(value / self.step)))
