"""The registry of zero-knowledge attributes: schema, source category and how a value is derived.

One YAML file (`attributes.yaml` beside this module, or another given by the operator) says, per
attribute, its `zkp` schema (kind and bit width), the taxonomy category the policy decision is taken
on, and the source field it is derived from. Keeping derivation here, next to the bit width, means the
value committed in the ledger always fits the range proofs the schema promises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from zkp import AttributeSchema, SchemaError

DEFAULT_ATTRIBUTES = Path(__file__).with_name("attributes.yaml")
DERIVATIONS = frozenset({"age_at_epoch", "day_number", "cents", "value", "primary"})
_EPOCH_DAY = date(1970, 1, 1)


class AttributeRegistryError(ValueError):
    """The attribute registry file is malformed; the message names the attribute and the rule."""


class UnknownAttributeError(LookupError):
    """No attribute of that id is registered."""


class DerivationError(ValueError):
    """The source value cannot become this attribute's value (wrong type, bad date, out of range).

    Messages never quote the value: they may reach a client in an error response."""


class NoValueError(DerivationError):
    """The source holds no value for this attribute (absent field, empty list of codes)."""


@dataclass(frozen=True)
class ZkAttribute:
    """One registered attribute; `schema.name` is the attribute id, so proofs name it."""

    id: str
    version: int
    schema: AttributeSchema
    category: str
    field: str
    derive: str
    time_dependent: bool = False
    customer_registrable: bool = False

    def derive_value(self, raw: object, as_of: date) -> int | str:
        """The attribute value from the source value, checked against the schema (bit width)."""
        value = self._derive(raw, as_of)
        try:
            self.schema.scalar(value)
        except SchemaError as exc:
            # the schema's message quotes the value: never let a source value reach an error response
            width = f"{self.schema.bit_width}-bit " if self.schema.bit_width else ""
            raise DerivationError(f"{self.id}: the source value does not fit the {width}{self.schema.kind}") from exc
        return value

    def _derive(self, raw: object, as_of: date) -> int | str:
        if raw is None:
            raise NoValueError(f"{self.id}: the source has no value at {self.field}")
        if self.derive == "primary":
            if not isinstance(raw, list):
                raise DerivationError(f"{self.id}: {self.field} is not a list")
            if not raw:
                raise NoValueError(f"{self.id}: {self.field} is an empty list")
            raw = raw[0]
        if self.derive in ("age_at_epoch", "day_number"):
            born = _parse_date(self.id, raw)
            if self.derive == "day_number":
                return (born - _EPOCH_DAY).days
            if born > as_of:
                raise DerivationError(f"{self.id}: the birth date is after the as-of date {as_of.isoformat()}")
            return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
        if self.derive == "cents":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise DerivationError(f"{self.id}: {self.field} is not a number")
            return round(raw * 100)
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise DerivationError(f"{self.id}: {self.field} is neither an integer nor a string")
        return raw

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "schema": self.schema.to_json(),
            "category": self.category,
            "source_field": self.field,
            "derive": self.derive,
            "time_dependent": self.time_dependent,
            "customer_registrable": self.customer_registrable,
        }


def _parse_date(attribute: str, raw: object) -> date:
    if not isinstance(raw, str):
        raise DerivationError(f"{attribute}: the date is not a string")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise DerivationError(f"{attribute}: the source value is not a YYYY-MM-DD date") from exc


def read_pointer(document: object, pointer: str) -> object:
    """RFC 6901: the value at `pointer`, or None when any step is missing."""
    if pointer == "":
        return document
    current = document
    for token in pointer[1:].split("/"):
        step = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if step not in current:
                return None
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


class AttributeRegistry:
    """The attributes by id, loaded once; unknown ids are a precise error, never a default."""

    def __init__(self, attributes: Mapping[str, ZkAttribute], version: int = 1) -> None:
        self._attributes = dict(attributes)
        self.version = version

    def __iter__(self) -> Any:
        return iter(self._attributes.values())

    def __len__(self) -> int:
        return len(self._attributes)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._attributes)

    def get(self, attribute_id: str) -> ZkAttribute:
        try:
            return self._attributes[attribute_id]
        except KeyError:
            known = ", ".join(self._attributes)
            raise UnknownAttributeError(f"no attribute {attribute_id!r}; registered: {known}") from None

    @classmethod
    def load(cls, path: Path | str = DEFAULT_ATTRIBUTES, categories: frozenset[str] | None = None) -> AttributeRegistry:
        """Parse and validate the file; with `categories`, every attribute's category must be one of them."""
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise AttributeRegistryError(f"{path}: {exc}") from exc
        return cls.parse(document, categories)

    @classmethod
    def parse(cls, document: object, categories: frozenset[str] | None = None) -> AttributeRegistry:
        if not isinstance(document, dict) or set(document) != {"version", "attributes"}:
            raise AttributeRegistryError("the registry is a mapping with exactly version and attributes")
        entries = document["attributes"]
        if not isinstance(entries, list) or not entries:
            raise AttributeRegistryError("attributes is a non-empty list")
        found: dict[str, ZkAttribute] = {}
        for position, entry in enumerate(entries):
            attribute = _parse_attribute(entry, position)
            if attribute.id in found:
                raise AttributeRegistryError(f"attribute {attribute.id!r} is registered twice")
            if categories is not None and attribute.category not in categories:
                raise AttributeRegistryError(f"attribute {attribute.id!r}: unknown category {attribute.category!r}")
            found[attribute.id] = attribute
        version = document["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise AttributeRegistryError("version is a positive integer")
        return cls(found, version)


_KEYS = {"id", "version", "kind", "bit_width", "category", "source", "time_dependent", "customer_registrable"}


def _parse_attribute(entry: object, position: int) -> ZkAttribute:
    where = f"attribute {position}"
    if not isinstance(entry, dict):
        raise AttributeRegistryError(f"{where} is not a mapping")
    unknown = set(entry) - _KEYS
    if unknown:
        raise AttributeRegistryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    attribute_id = entry.get("id")
    if not isinstance(attribute_id, str) or not attribute_id:
        raise AttributeRegistryError(f"{where}: id is a non-empty string")
    where = f"attribute {attribute_id!r}"
    version = entry.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise AttributeRegistryError(f"{where}: version is a positive integer")
    try:
        if entry.get("kind") == "integer":
            schema = AttributeSchema.integer(attribute_id, entry.get("bit_width", 0))
        elif entry.get("kind") == "categorical":
            if "bit_width" in entry:
                raise AttributeRegistryError(f"{where}: a categorical attribute has no bit_width")
            schema = AttributeSchema.categorical(attribute_id)
        else:
            raise AttributeRegistryError(f"{where}: kind is integer or categorical")
    except SchemaError as exc:
        raise AttributeRegistryError(f"{where}: {exc}") from exc
    category = entry.get("category")
    if not isinstance(category, str) or not category:
        raise AttributeRegistryError(f"{where}: category is a taxonomy category id")
    source = entry.get("source")
    if not isinstance(source, dict) or set(source) != {"field", "derive"}:
        raise AttributeRegistryError(f"{where}: source is a mapping with exactly field and derive")
    field, derive = source["field"], source["derive"]
    if not isinstance(field, str) or not (field == "" or field.startswith("/")):
        raise AttributeRegistryError(f"{where}: source.field is an RFC 6901 JSON Pointer")
    if derive not in DERIVATIONS:
        raise AttributeRegistryError(f"{where}: source.derive is one of {', '.join(sorted(DERIVATIONS))}")
    integer_derivations = {"age_at_epoch", "day_number", "cents"}
    if schema.kind.value == "categorical" and derive in integer_derivations:
        raise AttributeRegistryError(f"{where}: derivation {derive!r} yields integers, not categories")
    flags = {name: entry.get(name, False) for name in ("time_dependent", "customer_registrable")}
    if not all(isinstance(flag, bool) for flag in flags.values()):
        raise AttributeRegistryError(f"{where}: time_dependent and customer_registrable are booleans")
    if flags["time_dependent"] and flags["customer_registrable"]:
        raise AttributeRegistryError(f"{where}: a time-dependent value is re-derived from its source, not registered")
    return ZkAttribute(attribute_id, version, schema, category, field, derive, **flags)
