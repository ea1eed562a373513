"""Pedersen commitments C = v·G + r·H: perfectly hiding, and binding as long as log_G(H) is unknown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zkp.encoding import b64url_decode, b64url_encode
from zkp.errors import EncodingError, ProofRefused
from zkp.group import ORDER, G, H, Point, random_scalar, scalar_from_bytes, scalar_to_bytes
from zkp.schema import AttributeSchema


@dataclass(frozen=True)
class Commitment:
    """A commitment as published (for instance in the ledger): one compressed point."""

    point: Point

    def to_json(self) -> str:
        return b64url_encode(self.point.to_bytes())

    @classmethod
    def from_json(cls, text: object) -> Commitment:
        if not isinstance(text, str):
            raise EncodingError("commitment is a base64url string")
        return cls(Point.from_bytes(b64url_decode(text)))


@dataclass(frozen=True)
class Opening:
    """The secret behind a commitment: the attribute value and the blinding factor.

    Whoever holds it can prove anything true about the value, so it is stored encrypted at rest and
    its `repr` never shows the contents (it would otherwise end up in logs and tracebacks)."""

    value: int | str
    blinding: int

    def __repr__(self) -> str:
        return "Opening(<secret>)"

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "blinding": b64url_encode(scalar_to_bytes(self.blinding))}

    @classmethod
    def from_json(cls, data: object) -> Opening:
        if not isinstance(data, dict) or set(data) != {"value", "blinding"}:
            raise EncodingError("opening is an object with exactly value and blinding")
        value, blinding = data["value"], data["blinding"]
        if isinstance(value, bool) or not isinstance(value, int | str) or not isinstance(blinding, str):
            raise EncodingError("opening value is an integer or string and blinding a base64url string")
        return cls(value, scalar_from_bytes(b64url_decode(blinding)))

    def to_bytes(self) -> bytes:
        """Canonical UTF-8 JSON, for encryption at rest."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Opening:
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EncodingError("opening bytes are not JSON") from exc
        return cls.from_json(parsed)


def commitment_point(scalar: int, blinding: int) -> Point:
    return scalar % ORDER * G + blinding * H


def commit(schema: AttributeSchema, value: int | str) -> tuple[Commitment, Opening]:
    """Commit to `value` under `schema` with fresh CSPRNG blinding; out-of-schema values are refused."""
    scalar = schema.scalar(value)
    blinding = random_scalar()
    return Commitment(commitment_point(scalar, blinding)), Opening(value, blinding)


def check_opening(schema: AttributeSchema, commitment: Commitment, opening: Opening) -> int:
    """The committed scalar, after checking that `opening` really opens `commitment` under `schema`."""
    scalar = schema.scalar(opening.value)
    if commitment_point(scalar, opening.blinding) != commitment.point:
        raise ProofRefused("the opening does not open this commitment")
    return scalar
