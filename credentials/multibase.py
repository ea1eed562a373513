"""Multibase base58btc (`z`), base64url, and multicodec prefixes for Ed25519 keys.

Small and local because only these two encodings and two codecs are ever accepted.
"""

from __future__ import annotations

import base64

from credentials.errors import KeyFormatError

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}

ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    num = 0
    for char in text:
        try:
            num = num * 58 + _INDEX[char]
        except KeyError:
            raise KeyFormatError(f"invalid base58btc character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise KeyFormatError("base64url text must be unpadded and use the URL-safe alphabet")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"invalid base64url: {exc}") from None


def multibase_encode(data: bytes) -> str:
    """Multibase base58btc (`z`), the encoding of Multikey values and proofValue."""
    return "z" + b58encode(data)


def multibase_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise KeyFormatError("unsupported multibase prefix: keys and proofs use base58btc ('z')")
    return b58decode(text[1:])
