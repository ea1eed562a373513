"""The group layer: P-256 constants (SEC 2 §2.4.2), the hashed generator H, strict point and scalar decoding."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkp import H_DOMAIN_TAG, EncodingError
from zkp.group import FIELD_PRIME, ORDER, G, H, Point, hash_to_point, identity, scalar_from_bytes

# SEC 2 v2 §2.4.2 (secp256r1): the base point in compressed form and the group order n.
SEC2_G_COMPRESSED = "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
SEC2_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SEC2_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1


def test_sec2_p256_constants() -> None:
    assert G.to_bytes().hex() == SEC2_G_COMPRESSED
    assert ORDER == SEC2_ORDER
    assert FIELD_PRIME == SEC2_PRIME


def _first_curve_x(tag: bytes) -> tuple[int, int]:
    """Independent re-derivation of try-and-increment: the first counter whose x has a square y^2."""
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B  # SEC 2 curve coefficient
    for counter in range(1000):
        digest = hashlib.sha512(len(tag).to_bytes(8, "big") + tag + counter.to_bytes(4, "big")).digest()
        x = int.from_bytes(digest, "big") % SEC2_PRIME
        rhs = (pow(x, 3, SEC2_PRIME) - 3 * x + b) % SEC2_PRIME
        if pow(rhs, (SEC2_PRIME - 1) // 2, SEC2_PRIME) == 1:
            return counter, x
    raise AssertionError("no point within 1000 tries")


def test_h_is_the_published_tag_hashed_to_the_curve_with_even_y() -> None:
    _, x = _first_curve_x(H_DOMAIN_TAG)
    assert H.to_bytes() == b"\x02" + x.to_bytes(32, "big")
    assert hash_to_point(H_DOMAIN_TAG) == H
    assert H not in (G, -G) and not H.is_identity


def test_identity_is_refused() -> None:
    assert identity().to_bytes() == b"\x00"
    with pytest.raises(EncodingError):
        Point.from_bytes(b"\x00")
    with pytest.raises(EncodingError):
        Point.from_bytes(b"\x02" + bytes(32) + b"\x00")


def test_uncompressed_and_hybrid_encodings_are_refused() -> None:
    with pytest.raises(EncodingError):
        Point.from_bytes(b"\x04" + G.to_bytes()[1:] * 2)
    with pytest.raises(EncodingError):
        Point.from_bytes(b"\x06" + G.to_bytes()[1:])


def test_x_not_reduced_modulo_p_is_refused() -> None:
    with pytest.raises(EncodingError, match="not reduced"):
        Point.from_bytes(b"\x02" + (SEC2_PRIME + 1).to_bytes(32, "big"))


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.sampled_from([2, 3]))
def test_x_coordinates_off_the_curve_are_refused(x_bytes: bytes, prefix: int) -> None:
    x = int.from_bytes(x_bytes, "big") % SEC2_PRIME
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    rhs = (pow(x, 3, SEC2_PRIME) - 3 * x + b) % SEC2_PRIME
    on_curve = rhs == 0 or pow(rhs, (SEC2_PRIME - 1) // 2, SEC2_PRIME) == 1
    data = bytes([prefix]) + x.to_bytes(32, "big")
    if on_curve:
        assert Point.from_bytes(data).to_bytes() == data
    else:
        with pytest.raises(EncodingError):
            Point.from_bytes(data)


def test_scalars_must_be_canonical() -> None:
    assert scalar_from_bytes((ORDER - 1).to_bytes(32, "big")) == ORDER - 1
    with pytest.raises(EncodingError):
        scalar_from_bytes(ORDER.to_bytes(32, "big"))
    with pytest.raises(EncodingError):
        scalar_from_bytes(bytes(31))
