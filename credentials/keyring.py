"""The issuer's signing keys on disk: one JSON file, mode 0600, newest key last.

Rotation appends a key and never deletes one, so the DID document keeps listing every key that ever
signed a receipt and old receipts keep verifying; only the newest key signs and authenticates. The file
is re-read when it changes, so a rotation by another process (the CLI) reaches a running server.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from credentials.dids import did_web_document
from credentials.errors import KeyFormatError
from credentials.keys import generate_key_pair, key_pair_from_private, private_key_from_multibase
from credentials.receipts import IssuerKey


class IssuerKeyring:
    def __init__(self, path: Path, did: str, private_keys: list[str]) -> None:
        if not private_keys:
            raise KeyFormatError(f"{path} holds no keys")
        self._path = path
        self._did = did
        self._private_keys = list(private_keys)
        self._mtime = _mtime(path)

    @classmethod
    def load_or_create(cls, path: Path, did: str) -> IssuerKeyring:
        """Open the keyring, creating it with one fresh key (exclusively, mode 0600) if it is missing."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls._load(path, did)
        with os.fdopen(fd, "w") as handle:
            handle.write(_serialize([generate_key_pair().private_key_multibase]))
            handle.flush()
            os.fsync(handle.fileno())
        return cls._load(path, did)

    @classmethod
    def _load(cls, path: Path, did: str) -> IssuerKeyring:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyFormatError(f"{path} is readable by others (mode {mode:o}); it must be 0600")
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            keys = [str(k) for k in data["keys"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFormatError(f"{path} is not a keyring: {exc}") from None
        for key in keys:
            private_key_from_multibase(key)
        return cls(path, did, keys)

    def _refresh(self) -> None:
        """Pick up a rotation written by another process; a file that became unreadable keeps the keys we have."""
        mtime = _mtime(self._path)
        if mtime == self._mtime:
            return
        try:
            self._private_keys = self._load(self._path, self._did)._private_keys
        except (KeyFormatError, OSError):
            return
        self._mtime = mtime

    @property
    def current(self) -> IssuerKey:
        self._refresh()
        return IssuerKey.did_web(self._did, self._private_keys[-1])

    def did_key(self, public_key_multibase: str | None = None) -> IssuerKey:
        """The current key as a did:key, or an older key named by its public multibase (to sign its status lists)."""
        self._refresh()
        for private in reversed(self._private_keys):
            key = IssuerKey.did_key(private)
            if public_key_multibase is None or key.did == f"did:key:{public_key_multibase}":
                return key
        raise KeyFormatError(f"{public_key_multibase} is not one of the issuer's keys")

    @property
    def public_keys_multibase(self) -> list[str]:
        self._refresh()
        return [key_pair_from_private(private_key_from_multibase(k)).public_key_multibase for k in self._private_keys]

    def rotate(self) -> IssuerKey:
        """Append a new signing key and persist atomically (temp file 0600, fsync, rename)."""
        self._refresh()
        keys = [*self._private_keys, generate_key_pair().private_key_multibase]
        temporary = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_serialize(keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path)
        self._private_keys = keys
        self._mtime = _mtime(self._path)
        return self.current

    def did_document(self) -> dict[str, Any]:
        """The document to serve at /.well-known/did.json."""
        return did_web_document(self._did, self.public_keys_multibase)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def _serialize(keys: list[str]) -> str:
    return json.dumps({"keys": keys}, indent=2) + "\n"
