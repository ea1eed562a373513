"""The issuer's signing keys on disk: one JSON file, mode 0600, newest key last.

Rotation appends a key and never deletes one, so the DID document keeps listing every key that ever
signed a receipt and old receipts keep verifying; only the newest key signs and authenticates. The file
is kept by `keyfiles` (atomic writes, re-read when it changes), so a rotation by another process (the
CLI) reaches a running server. This module owns its format: `{"keys": [privateKeyMultibase, ...]}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from credentials.dids import did_web_document
from credentials.errors import KeyFormatError
from credentials.keys import generate_key_pair, key_pair_from_private, private_key_from_multibase
from credentials.receipts import IssuerKey
from keyfiles import KeyDirectory, KeyFileError, Ring, RingFile


class _MultikeyRingCodec:
    """Ed25519 private keys as Multikey strings; the last one is current."""

    def decode(self, data: bytes) -> Ring[str]:
        keys = tuple(str(key) for key in json.loads(data)["keys"])
        if not keys:
            raise ValueError("it holds no keys")
        for key in keys:
            private_key_from_multibase(key)
        return Ring(keys, len(keys) - 1)

    def encode(self, ring: Ring[str]) -> bytes:
        if ring.current_index != len(ring.keys) - 1:
            raise ValueError("the issuer's current key is always its newest")
        return (json.dumps({"keys": list(ring.keys)}, indent=2) + "\n").encode()


_MULTIKEY_RING = _MultikeyRingCodec()


def _new_key() -> str:
    return generate_key_pair().private_key_multibase


class IssuerKeyring:
    def __init__(self, file: RingFile[str], did: str, ring: Ring[str]) -> None:
        self._file = file
        self._did = did
        self._ring = ring

    @classmethod
    def load_or_create(cls, path: Path, did: str) -> IssuerKeyring:
        """Open the keyring, creating it with one fresh key (exclusively, mode 0600) if it is missing."""
        file = RingFile(KeyDirectory(path.parent), path.name, _MULTIKEY_RING)
        try:
            return cls(file, did, file.load_or_create(_new_key))
        except KeyFileError as exc:
            raise KeyFormatError(str(exc)) from None

    def _keys(self) -> Ring[str]:
        """Pick up a rotation written by another process; a file that became unreadable keeps the keys we have."""
        try:
            ring = self._file.load()
        except (KeyFileError, KeyFormatError, OSError):
            return self._ring
        if ring is not None:
            self._ring = ring
        return self._ring

    @property
    def current(self) -> IssuerKey:
        return IssuerKey.did_web(self._did, self._keys().current)

    def did_key(self, public_key_multibase: str | None = None) -> IssuerKey:
        """The current key as a did:key, or an older key named by its public multibase (to sign its status lists)."""
        ring = self._keys()
        if public_key_multibase is None:
            return IssuerKey.did_key(ring.current)
        for private in ring.keys:
            key = IssuerKey.did_key(private)
            if key.did == f"did:key:{public_key_multibase}":
                return key
        raise KeyFormatError(f"{public_key_multibase} is not one of the issuer's keys")

    @property
    def public_keys_multibase(self) -> list[str]:
        return [key_pair_from_private(private_key_from_multibase(k)).public_key_multibase for k in self._keys().keys]

    def rotate(self) -> IssuerKey:
        """Append a new signing key and persist it atomically."""
        try:
            self._file.rotate(_new_key)
        except KeyFileError as exc:
            raise KeyFormatError(str(exc)) from None
        return self.current

    def did_document(self) -> dict[str, Any]:
        """The document to serve at /.well-known/did.json."""
        return did_web_document(self._did, self.public_keys_multibase)
