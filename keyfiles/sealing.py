"""Sealed secrets: AES-256-GCM with a key derived from a secret of the key directory.

A sealed blob is nonce (96 random bits) ‖ ciphertext ‖ tag. The caller binds each blob to where it is stored (the
DID of a custodial key, the row of a zero-knowledge opening) as associated data, so a blob copied elsewhere or
altered does not open. The AES key is derived from the secret, never the secret itself, with a label per use, so
one secret cannot open another use's blobs.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyfiles.directory import SECRET_BYTES

NONCE_BYTES = 12


class SealedDataError(Exception):
    """A sealed blob does not open: altered, truncated, moved to another place, or sealed under another secret."""


class SealedBox:
    """Seals and opens blobs under one derived AES-256-GCM key."""

    def __init__(self, aead: AESGCM) -> None:
        self._aead = aead

    def __repr__(self) -> str:
        return "SealedBox(<key>)"

    @classmethod
    def hkdf(cls, secret: bytes, *, info: bytes) -> SealedBox:
        """The key is HKDF-SHA256 (RFC 5869, no salt) of the secret, with `info` naming the use."""
        _check(secret)
        return cls(AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)))

    @classmethod
    def labelled_sha256(cls, secret: bytes, *, label: bytes) -> SealedBox:
        """The key is SHA-256(label ‖ secret): the derivation zero-knowledge openings were first sealed with,
        kept so those rows still open. New uses take `hkdf`."""
        _check(secret)
        return cls(AESGCM(hashlib.sha256(label + secret).digest()))

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        if len(sealed) <= NONCE_BYTES:
            raise SealedDataError("the sealed data is truncated")
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise SealedDataError("the sealed data does not open under this key in this place") from None


def _check(secret: bytes) -> None:
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"a sealing secret must hold at least {SECRET_BYTES} bytes")
