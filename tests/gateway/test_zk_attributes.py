"""The attribute registry: every bundled attribute is valid against the taxonomy, derivations fit the bit
widths (ages at the as-of date, day numbers, cents, the primary code of a set), and malformed registries
are refused with the attribute and rule named."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.zk import (
    AttributeRegistry,
    AttributeRegistryError,
    DerivationError,
    NoValueError,
    UnknownAttributeError,
    read_pointer,
)
from policies import DEFAULT_TAXONOMY, load_taxonomy
from zkp import AttributeKind

REGISTRY = AttributeRegistry.load(categories=frozenset(load_taxonomy(DEFAULT_TAXONOMY).categories))


def test_the_bundled_registry_names_the_issue_attributes_with_their_widths_and_categories() -> None:
    expected = {
        "age": (AttributeKind.INTEGER, 8, "profile.birth_date"),
        "birth_day_number": (AttributeKind.INTEGER, 32, "profile.birth_date"),
        "annual_income_cents": (AttributeKind.INTEGER, 48, "financial.income"),
        "fault_code": (AttributeKind.CATEGORICAL, 0, "vehicle.fault_codes"),
        "city": (AttributeKind.CATEGORICAL, 0, "location.city"),
    }
    got = {a.id: (a.schema.kind, a.schema.bit_width, a.category) for a in REGISTRY}
    assert got == expected
    assert all(a.schema.name == a.id for a in REGISTRY)
    with pytest.raises(UnknownAttributeError, match="shoe_size"):
        REGISTRY.get("shoe_size")


@pytest.mark.parametrize(
    ("born", "as_of", "age"),
    [
        ("2008-11-22", date(2026, 11, 22), 18),  # the 18th birthday itself
        ("2008-11-23", date(2026, 11, 22), 17),  # the day before it
        ("2008-02-29", date(2026, 2, 28), 17),  # leap-day birthdays count from 1 March
        ("2008-02-29", date(2026, 3, 1), 18),
        ("2026-11-22", date(2026, 11, 22), 0),
    ],
)
def test_age_is_whole_years_at_the_as_of_date(born: str, as_of: date, age: int) -> None:
    assert REGISTRY.get("age").derive_value(born, as_of) == age


def test_an_age_beyond_8_bits_or_a_future_birth_is_refused() -> None:
    with pytest.raises(DerivationError, match="8-bit") as caught:
        REGISTRY.get("age").derive_value("1700-01-01", date(2026, 1, 1))
    assert "326" not in str(caught.value)  # the value never appears in a message a client may see
    with pytest.raises(DerivationError, match="after"):
        REGISTRY.get("age").derive_value("2030-01-01", date(2026, 1, 1))
    with pytest.raises(DerivationError, match="YYYY-MM-DD"):
        REGISTRY.get("age").derive_value("07/03/1990", date(2026, 1, 1))


def test_day_numbers_count_from_the_unix_epoch() -> None:
    attribute = REGISTRY.get("birth_day_number")
    assert attribute.derive_value("1970-01-01", date(2026, 1, 1)) == 0
    assert attribute.derive_value("1990-03-07", date(2026, 1, 1)) == (date(1990, 3, 7) - date(1970, 1, 1)).days
    with pytest.raises(DerivationError):  # before the epoch: no non-negative day number
        attribute.derive_value("1969-12-31", date(2026, 1, 1))


@given(st.integers(min_value=0, max_value=(2**48 - 1) // 100))
def test_income_in_major_units_becomes_exact_cents(amount: int) -> None:
    assert REGISTRY.get("annual_income_cents").derive_value(amount, date(2026, 1, 1)) == amount * 100


def test_a_set_valued_source_maps_to_its_primary_code_and_an_empty_set_has_no_value() -> None:
    attribute = REGISTRY.get("fault_code")
    assert attribute.derive_value(["P0301", "P0420"], date(2026, 1, 1)) == "P0301"
    with pytest.raises(NoValueError):
        attribute.derive_value([], date(2026, 1, 1))
    with pytest.raises(DerivationError, match="not a list"):
        attribute.derive_value("P0301", date(2026, 1, 1))
    with pytest.raises(NoValueError):
        REGISTRY.get("city").derive_value(None, date(2026, 1, 1))


def test_rfc6901_pointers_read_nested_values_and_escapes() -> None:
    document = {"vehicle": {"fault_codes": ["P0301"]}, "a/b": {"m~n": 1}}
    assert read_pointer(document, "/vehicle/fault_codes/0") == "P0301"
    assert read_pointer(document, "/a~1b/m~0n") == 1
    assert read_pointer(document, "/vehicle/vin") is None
    assert read_pointer(document, "/vehicle/fault_codes/7") is None


def _registry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "id": "age",
        "kind": "integer",
        "bit_width": 8,
        "category": "profile.birth_date",
        "source": {"field": "/birth_date", "derive": "age_at_epoch"},
    }
    entry.update(overrides)
    return {"version": 1, "attributes": [entry]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, "unknown key"),
        ({"kind": "float"}, "kind is integer or categorical"),
        ({"bit_width": 65}, "bit width"),
        ({"kind": "categorical"}, "no bit_width"),
        ({"source": {"field": "birth_date", "derive": "value"}}, "JSON Pointer"),
        ({"source": {"field": "/birth_date", "derive": "guess"}}, "source.derive"),
        ({"category": "profile.shoe_size"}, "unknown category"),
        ({"time_dependent": True, "customer_registrable": True}, "time-dependent"),
    ],
)
def test_a_malformed_registry_is_refused_naming_the_rule(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(AttributeRegistryError, match=message):
        AttributeRegistry.parse(_registry(**overrides), frozenset({"profile.birth_date"}))


def test_an_attribute_registered_twice_is_refused() -> None:
    document = _registry()
    document["attributes"].append(dict(document["attributes"][0]))
    with pytest.raises(AttributeRegistryError, match="twice"):
        AttributeRegistry.parse(document)
