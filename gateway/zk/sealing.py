"""Openings at rest: sealed (`keyfiles.SealedBox`) under a secret kept in the data directory (mode 0600) or the
environment.

Whoever holds an opening can prove anything true about the value, so it never leaves the gateway in
the clear. Each sealed opening is bound (as associated data) to its row — subject pseudonym, attribute,
epoch and commitment — so a sealed blob copied into another row does not decrypt.
"""

from __future__ import annotations

from pathlib import Path

from keyfiles import KeyDirectory, SealedBox, SealedDataError
from zkp import EncodingError, Opening

OPENING_KEY_NAME = "zk-opening"
KEY_FILE = f"{OPENING_KEY_NAME}.secret"
_KDF_LABEL = b"consentry/zk/opening-seal/v1"


class SealedOpeningError(Exception):
    """A sealed opening does not decrypt under this key and row (wrong key, moved or altered)."""


def load_opening_key(directory: Path, override: str | None = None) -> bytes:
    """The sealing secret: `override` (base64url, ≥ 32 bytes) or the key file, created 0600 on first use."""
    return KeyDirectory(directory).secret(OPENING_KEY_NAME, override=override, variable="CONSENTRY_ZK_OPENING_KEY")


def row_binding(subject: str, attribute: str, epoch: int, commitment: str) -> bytes:
    """The associated data that ties a sealed opening to its row."""
    return b"\x00".join((subject.encode(), attribute.encode(), str(epoch).encode(), commitment.encode()))


class OpeningSealer:
    """Seals and opens `zkp.Opening`s; the AES key is derived from the secret, never the secret itself."""

    def __init__(self, secret: bytes) -> None:
        self._box = SealedBox.labelled_sha256(secret, label=_KDF_LABEL)

    def __repr__(self) -> str:
        return "OpeningSealer(<key>)"

    def seal(self, opening: Opening, binding: bytes) -> bytes:
        return self._box.seal(opening.to_bytes(), binding)

    def seal_bytes(self, plain: bytes, binding: bytes) -> bytes:
        """Seal any secret document (a held statement, opening included) bound to its row."""
        return self._box.seal(plain, binding)

    def open_bytes(self, sealed: bytes, binding: bytes) -> bytes:
        try:
            return self._box.open(sealed, binding)
        except SealedDataError as exc:
            raise SealedOpeningError(f"the sealed document does not open: {exc}") from exc

    def open(self, sealed: bytes, binding: bytes) -> Opening:
        try:
            plain = self._box.open(sealed, binding)
        except SealedDataError as exc:
            raise SealedOpeningError(f"the sealed opening does not open: {exc}") from exc
        try:
            return Opening.from_bytes(plain)
        except EncodingError as exc:
            raise SealedOpeningError(f"the sealed opening is not an opening: {exc}") from exc
