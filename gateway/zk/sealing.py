"""Openings at rest: AES-256-GCM under a key kept in the data directory (mode 0600) or the environment.

Whoever holds an opening can prove anything true about the value, so it never leaves the gateway in
the clear. Each sealed opening is bound (as associated data) to its row — subject pseudonym, attribute,
epoch and commitment — so a sealed blob copied into another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.keys import KeyFileError
from zkp import EncodingError, Opening

KEY_FILE = "zk-opening.secret"
NONCE_SIZE = 12
_KDF_LABEL = b"consentry/zk/opening-seal/v1"


class SealedOpeningError(Exception):
    """A sealed opening does not decrypt under this key and row (wrong key, moved or altered)."""


def _b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_opening_key(directory: Path, override: str | None = None) -> bytes:
    """The sealing secret: `override` (base64url, ≥ 32 bytes) or the key file, created 0600 on first use."""
    if override:
        try:
            key = _b64u_decode(override.strip())
        except (binascii.Error, ValueError) as exc:
            raise KeyFileError("CONSENTRY_ZK_OPENING_KEY is not base64url") from exc
        if len(key) < 32:
            raise KeyFileError("CONSENTRY_ZK_OPENING_KEY must hold at least 32 bytes")
        return key
    path = directory / KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"="))
                handle.flush()
                os.fsync(handle.fileno())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} is accessible by group or others (mode {oct(mode)}); chmod 600 it")
    try:
        key = _b64u_decode(path.read_text(encoding="ascii").strip())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: not a base64url secret") from exc
    if len(key) < 32:
        raise KeyFileError(f"{path}: the secret must hold at least 32 bytes")
    return key


def row_binding(subject: str, attribute: str, epoch: int, commitment: str) -> bytes:
    """The associated data that ties a sealed opening to its row."""
    return b"\x00".join((subject.encode(), attribute.encode(), str(epoch).encode(), commitment.encode()))


class OpeningSealer:
    """Seals and opens `zkp.Opening`s; the AES key is derived from the secret, never the secret itself."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hashlib.sha256(_KDF_LABEL + secret).digest())

    def __repr__(self) -> str:
        return "OpeningSealer(<key>)"

    def seal(self, opening: Opening, binding: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, opening.to_bytes(), binding)

    def open(self, sealed: bytes, binding: bytes) -> Opening:
        if len(sealed) <= NONCE_SIZE:
            raise SealedOpeningError("the sealed opening is truncated")
        try:
            plain = self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], binding)
        except InvalidTag as exc:
            raise SealedOpeningError("the sealed opening does not decrypt under this key for this row") from exc
        try:
            return Opening.from_bytes(plain)
        except EncodingError as exc:
            raise SealedOpeningError(f"the sealed opening is not an opening: {exc}") from exc
