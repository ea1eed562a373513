"""Base64url (RFC 4648 §5, unpadded: `ledger.b64`'s, with this package's error) and a strict reader for the fixed
layout of proof bytes."""

from __future__ import annotations

from ledger.b64 import Base64Error
from ledger.b64 import b64url_decode as _b64url_decode
from ledger.b64 import b64url_encode as b64url_encode
from zkp.errors import EncodingError
from zkp.group import POINT_SIZE, SCALAR_SIZE, Point, scalar_from_bytes, scalar_to_bytes


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing padding, other alphabets and non-canonical trailing bits."""
    try:
        return _b64url_decode(text)
    except Base64Error as exc:
        raise EncodingError(str(exc)) from None


class ProofWriter:
    """Concatenates points and scalars; the layout is fixed by the statement, so no tags are needed."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def point(self, point: Point) -> None:
        self._parts.append(point.to_bytes())

    def scalar(self, value: int) -> None:
        self._parts.append(scalar_to_bytes(value))

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class ProofReader:
    """Reads exactly the points and scalars the statement calls for, and nothing more."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def _take(self, size: int, what: str) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise EncodingError(f"proof is truncated: {what} expected at byte {self._offset}")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def point(self, what: str) -> Point:
        offset = self._offset
        try:
            return Point.from_bytes(self._take(POINT_SIZE, what))
        except EncodingError as exc:
            raise EncodingError(f"{what} at byte {offset}: {exc}") from exc

    def scalar(self, what: str) -> int:
        offset = self._offset
        try:
            return scalar_from_bytes(self._take(SCALAR_SIZE, what))
        except EncodingError as exc:
            raise EncodingError(f"{what} at byte {offset}: {exc}") from exc

    def finish(self) -> None:
        if self._offset != len(self._data):
            raise EncodingError(f"proof has {len(self._data) - self._offset} unexpected trailing bytes")
