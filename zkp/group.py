"""NIST P-256 through petlib, behind one typed module.

petlib has no type hints and raises bare `Exception`s; everything else in `zkp` talks to the curve only
through `Point` and plain `int` scalars reduced modulo `ORDER`, so that the untyped surface stays here.

Generators: `G` is the standard P-256 base point. Every other generator (`H`, the Bulletproofs vectors)
comes from `hash_to_point`, a try-and-increment map on the x-coordinate, so its discrete logarithm with
respect to `G` is unknown to everyone, including us — the binding of Pedersen commitments rests on that.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from petlib.bn import Bn
from petlib.ec import EcGroup, EcPt

from zkp.errors import EncodingError

CURVE_NAME = "P-256"
_NID_X9_62_PRIME256V1 = 415
_GROUP: Any = EcGroup(_NID_X9_62_PRIME256V1)
ORDER: int = int(_GROUP.order())
FIELD_PRIME: int = int(_GROUP.parameters()["p"])
POINT_SIZE = 33  # SEC 1 compressed encoding
SCALAR_SIZE = 32

#: Published domain tag from which H is derived; anyone can recompute H from it.
H_DOMAIN_TAG = b"consentry/zkp/v1/P-256/pedersen-H"


def _bn(value: int) -> Any:
    return Bn.from_binary((value % ORDER).to_bytes(SCALAR_SIZE, "big"))


class Point:
    """An element of the P-256 group (possibly the identity, which only arithmetic may produce)."""

    __slots__ = ("_pt",)

    def __init__(self, pt: Any) -> None:
        self._pt = pt

    def __add__(self, other: Point) -> Point:
        return Point(self._pt + other._pt)

    def __sub__(self, other: Point) -> Point:
        return Point(self._pt - other._pt)

    def __neg__(self) -> Point:
        return Point(-self._pt)

    def __mul__(self, scalar: int) -> Point:
        return Point(self._pt.pt_mul(_bn(scalar)))

    __rmul__ = __mul__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and bool(self._pt == other._pt)

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"Point({self.to_bytes().hex()})"

    @property
    def is_identity(self) -> bool:
        return bool(self._pt.is_infinite())

    def to_bytes(self) -> bytes:
        """SEC 1 compressed form (33 bytes); the identity encodes as the single byte 0x00."""
        return bytes(self._pt.export())

    @classmethod
    def from_bytes(cls, data: bytes) -> Point:
        """Decode a compressed point, refusing anything but a canonical, on-curve, non-identity point."""
        if len(data) != POINT_SIZE or data[0] not in (2, 3):
            raise EncodingError(f"a point is {POINT_SIZE} bytes starting 0x02 or 0x03 (SEC 1 compressed)")
        if int.from_bytes(data[1:], "big") >= FIELD_PRIME:
            raise EncodingError("point x-coordinate is not reduced modulo the field prime")
        try:
            pt = EcPt.from_binary(data, _GROUP)
        except Exception as exc:  # petlib signals every decoding failure with a bare Exception
            raise EncodingError("bytes are not the x-coordinate of a point on P-256") from exc
        point = cls(pt)
        if point.is_identity or not _GROUP.check_point(pt) or point.to_bytes() != data:
            raise EncodingError("point is the identity, off the curve or not canonically encoded")
        return point


def generator() -> Point:
    return G


def identity() -> Point:
    return Point(_GROUP.infinite())


def multi_exp(scalars: Sequence[int], points: Sequence[Point]) -> Point:
    """Σ scalars[i]·points[i] in one OpenSSL multi-scalar multiplication (the verifier's hot path)."""
    if len(scalars) != len(points):
        raise ValueError("multi_exp needs as many scalars as points")
    return Point(_GROUP.wsum([_bn(s) for s in scalars], [p._pt for p in points]))


def hash_to_point(tag: bytes) -> Point:
    """Try-and-increment: x = SHA-512(len(tag) ‖ tag ‖ counter) mod p for counter = 0, 1, …; the first x
    that is on the curve, with the even y (prefix 0x02), is the point. Deterministic and public, so nobody
    knows the discrete logarithm of the result."""
    counter = 0
    while True:
        digest = hashlib.sha512(len(tag).to_bytes(8, "big") + tag + counter.to_bytes(4, "big")).digest()
        x = int.from_bytes(digest, "big") % FIELD_PRIME
        try:
            return Point.from_bytes(b"\x02" + x.to_bytes(32, "big"))
        except EncodingError:
            counter += 1


@lru_cache(maxsize=64)
def generator_vector(label: str, length: int) -> tuple[Point, ...]:
    """Independent generators `label/0 … label/length-1` for vector commitments (Bulletproofs)."""
    return tuple(hash_to_point(f"consentry/zkp/v1/P-256/{label}/{i}".encode()) for i in range(length))


def scalar_to_bytes(value: int) -> bytes:
    return (value % ORDER).to_bytes(SCALAR_SIZE, "big")


def scalar_from_bytes(data: bytes) -> int:
    """Decode a 32-byte big-endian scalar, refusing a non-canonical one (≥ the group order)."""
    if len(data) != SCALAR_SIZE:
        raise EncodingError(f"a scalar is {SCALAR_SIZE} bytes")
    value = int.from_bytes(data, "big")
    if value >= ORDER:
        raise EncodingError("scalar is not reduced modulo the group order")
    return value


def random_scalar() -> int:
    """A uniform non-zero scalar from the operating system's CSPRNG."""
    return 1 + secrets.randbelow(ORDER - 1)


def inverse(value: int) -> int:
    if value % ORDER == 0:
        raise ZeroDivisionError("zero has no inverse modulo the group order")
    return pow(value, -1, ORDER)


G: Point = Point(_GROUP.generator())
H: Point = hash_to_point(H_DOMAIN_TAG)
