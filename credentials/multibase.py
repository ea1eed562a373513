"""Multibase base58btc (`z`), base64url (`ledger.b64`'s, with this package's error), and multicodec prefixes for
Ed25519 keys.

Small and local because only these two encodings and two codecs are ever accepted.
"""

from __future__ import annotations

from credentials.errors import KeyFormatError
from ledger.b64 import Base64Error
from ledger.b64 import b64url_decode as _b64url_decode
from ledger.b64 import b64url_encode as b64url_encode

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


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url in the URL-safe alphabet; trailing bits are not checked (JOSE values from elsewhere)."""
    try:
        return _b64url_decode(text, canonical=False)
    except Base64Error:
        raise KeyFormatError("base64url text must be unpadded and use the URL-safe alphabet") from None


def multibase_encode(data: bytes) -> str:
    """Multibase base58btc (`z`), the encoding of Multikey values and proofValue."""
    return "z" + b58encode(data)


def multibase_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("z"):
        raise KeyFormatError("unsupported multibase prefix: keys and proofs use base58btc ('z')")
    return b58decode(text[1:])
