"""Base64 text of bytes, in the two alphabets the project speaks: standard base64 (RFC 4648 §4: C2SP signed
notes and checkpoints, proofs in JSON) and unpadded base64url (RFC 4648 §5: JOSE, Multikey, SD-JWT, proofs).

The one helper every package uses: `ledger` is the lowest library, so `credentials`, `zkp` and `gateway` may all
import it. Decoding is strict: only the alphabet, padding exactly as the encoding has it, and (by default) the one
canonical spelling of a value, so a signed or hashed text cannot be varied without changing what it decodes to.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["Base64Error", "b64decode", "b64encode", "b64url_decode", "b64url_encode"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class Base64Error(ValueError):
    """The text is not base64 of the expected kind; the message says how (safe to show)."""


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: str, *, canonical: bool = True) -> bytes:
    """Standard, padded base64; with `canonical`, also refuse a spelling the encoder would not produce."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise Base64Error("not valid base64") from None
    if canonical and b64encode(raw) != text:
        raise Base64Error("not canonical base64")
    return raw


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, canonical: bool = True) -> bytes:
    """Unpadded base64url; with `canonical`, also refuse non-zero trailing bits (a second spelling)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise Base64Error("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Base64Error("not unpadded base64url") from None
    if canonical and b64url_encode(raw) != text:
        raise Base64Error("base64url is not canonical")
    return raw
