"""Pedersen commitments and their openings: hiding, schema checks, serialization for encryption at rest."""

from __future__ import annotations

import pytest

from tests.zkp.zkp_schemas import AGE, CITY
from zkp import Commitment, EncodingError, Opening, SchemaError, commit
from zkp.group import G, H
from zkp.schema import category_scalar


def test_commitment_is_v_g_plus_r_h() -> None:
    commitment, opening = commit(AGE, 42)
    assert opening.value == 42
    assert commitment.point == 42 * G + opening.blinding * H


def test_categorical_values_commit_to_the_name_bound_hash() -> None:
    commitment, opening = commit(CITY, "Shanghai")
    assert commitment.point == category_scalar("city", "Shanghai") * G + opening.blinding * H
    assert category_scalar("city", "Shanghai") != category_scalar("birth_city", "Shanghai")


def test_fresh_randomness_hides_equal_values() -> None:
    assert commit(AGE, 42)[0] != commit(AGE, 42)[0]


@pytest.mark.parametrize("value", [-1, 256, True, "42"])
def test_values_outside_the_schema_are_refused(value: object) -> None:
    with pytest.raises(SchemaError):
        commit(AGE, value)  # type: ignore[arg-type]


def test_commitment_and_opening_round_trip_through_json_and_bytes() -> None:
    commitment, opening = commit(CITY, "Shanghai")
    assert Commitment.from_json(commitment.to_json()) == commitment
    assert Opening.from_bytes(opening.to_bytes()) == opening
    assert Opening.from_json(opening.to_json()) == opening


def test_opening_repr_never_shows_the_secret() -> None:
    _, opening = commit(AGE, 42)
    assert "42" not in repr(opening) and str(opening.blinding) not in repr(opening)


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"value": 1}', b'{"value": true, "blinding": "AA"}', b'{"value": 1, "blinding": "@@"}'],
)
def test_malformed_openings_are_refused(data: bytes) -> None:
    with pytest.raises(EncodingError):
        Opening.from_bytes(data)


@pytest.mark.parametrize("text", ["AA", "Ag==", 7, G.to_bytes().hex()])
def test_malformed_commitments_are_refused(text: object) -> None:
    with pytest.raises(EncodingError):
        Commitment.from_json(text)
