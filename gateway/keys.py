"""The gateway's signing keys: Ed25519 key rings kept in the data directory (mode 0600) or given by env.

A ring holds every key ever used under its name, newest current. Signing uses the current key; verifiers look
keys up by `kid` (RFC 7638 thumbprint), so rotating never invalidates a token or checkpoint already issued.
Rings re-read their file when it changes, so a rotation done by `consentry keys rotate` reaches a running
server without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

# The credential issuer's keys are not here: they are Multikeys in `credentials.IssuerKeyring`, which also
# publishes them in the did:web document (one place, so rotation cannot leave the two out of step).
RING_NAMES = ("token", "checkpoint")
SECRET_NAMES = ("pseudonym", "custody")


class KeyFileError(Exception):
    """A key file or key variable is unreadable, malformed or readable by others."""


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey

# Access tokens use ES256: the JOSE libraries CRMs use verify it everywhere, while "EdDSA" is deprecated by
# RFC 9864 and its successor is not yet widely supported. Checkpoints are Ed25519 by their spec.
RING_ALGORITHMS = {"token": "ES256", "checkpoint": "EdDSA"}


def _generate(alg: str) -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else Ed25519PrivateKey.generate()


@dataclass(frozen=True)
class SigningKey:
    """One key of a ring (Ed25519 or P-256); `kid` is its RFC 7638 JWK thumbprint."""

    kid: str
    private_key: PrivateKey
    created: str

    @classmethod
    def generate(cls, alg: str = "EdDSA") -> SigningKey:
        return cls.from_private(_generate(alg), datetime.now(UTC).isoformat())

    @classmethod
    def from_private(cls, private_key: PrivateKey, created: str) -> SigningKey:
        members = _public_members(private_key)
        thumbprint_input = json.dumps(members, separators=(",", ":"), sort_keys=True)
        return cls(_b64u(hashlib.sha256(thumbprint_input.encode()).digest()), private_key, created)

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any], created: str | None = None) -> SigningKey:
        private_key = _private_from_jwk(jwk)
        key = cls.from_private(private_key, created or str(jwk.get("created", "")))
        public = key.public_jwk()
        if any(name in jwk and jwk[name] != public[name] for name in ("x", "y")):
            raise KeyFileError(f"key {key.kid}: the public part does not match the private key")
        return key

    @property
    def alg(self) -> str:
        return "EdDSA" if isinstance(self.private_key, Ed25519PrivateKey) else "ES256"

    @property
    def seed(self) -> bytes:
        """The raw Ed25519 private key (32 bytes), as C2SP note signer keys need it."""
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise KeyFileError(f"key {self.kid} is not an Ed25519 key")
        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_bytes(self) -> bytes:
        if isinstance(self.private_key, Ed25519PrivateKey):
            return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)

    def public_jwk(self) -> dict[str, str]:
        return {**_public_members(self.private_key), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_jwk(self) -> dict[str, str]:
        if isinstance(self.private_key, Ed25519PrivateKey):
            d = self.seed
        else:
            d = self.private_key.private_numbers().private_value.to_bytes(32, "big")
        return {**self.public_jwk(), "d": _b64u(d)}


def _public_members(private_key: PrivateKey) -> dict[str, str]:
    """The RFC 7638 required members of the public key, which are also its thumbprint input."""
    if isinstance(private_key, Ed25519PrivateKey):
        x = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64u(x)}
    numbers = private_key.public_key().public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64u(numbers.x.to_bytes(32, "big")),
        "y": _b64u(numbers.y.to_bytes(32, "big")),
    }


def _private_from_jwk(jwk: dict[str, Any]) -> PrivateKey:
    d = jwk.get("d")
    if not isinstance(d, str):
        raise KeyFileError("expected a private JWK (with d)")
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PrivateKey.from_private_bytes(_unb64u(d))
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ec.derive_private_key(int.from_bytes(_unb64u(d), "big"), ec.SECP256R1())
    except ValueError as exc:
        raise KeyFileError(f"bad private key: {exc}") from exc
    raise KeyFileError("expected an Ed25519 (OKP) or P-256 (EC) private JWK")


@dataclass(frozen=True)
class KeyRing:
    """Keys under one name: `current` signs, all verify (published as a JWKS)."""

    name: str
    keys: tuple[SigningKey, ...]
    current_kid: str

    @property
    def current(self) -> SigningKey:
        key = self.get(self.current_kid)
        if key is None:
            raise KeyFileError(f"key ring {self.name!r}: current kid {self.current_kid!r} is not in the ring")
        return key

    def get(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def _write_private_file(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write a 0600 file atomically; without `replace`, a file that appeared meanwhile wins (returns False)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _read_private_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(f"{path} is accessible by group or others (mode {oct(stat.S_IMODE(mode))}); chmod 600 it")
    return path.read_bytes()


class KeyStore:
    """Key rings and secrets of one data directory, with optional overrides from the environment."""

    def __init__(self, directory: Path, overrides: dict[str, str | None] | None = None) -> None:
        self.directory = directory
        self._overrides = {name: value for name, value in (overrides or {}).items() if value}
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, KeyRing]] = {}

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _load_file(self, name: str) -> KeyRing | None:
        path = self._path(name)
        if not path.exists():
            return None
        try:
            document = json.loads(_read_private_file(path))
            keys = tuple(SigningKey.from_jwk(entry, entry.get("created")) for entry in document["keys"])
            return KeyRing(name, keys, str(document["current"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyFileError(f"{path}: not a key ring file ({exc})") from exc

    def _save(self, ring: KeyRing, *, replace: bool) -> bool:
        self._ensure_directory()
        document = {
            "current": ring.current_kid,
            "keys": [{**key.private_jwk(), "created": key.created} for key in ring.keys],
        }
        return _write_private_file(self._path(ring.name), json.dumps(document, indent=2).encode(), replace=replace)

    def ring(self, name: str) -> KeyRing:
        """The named ring, created with one fresh key on first use; re-read when its file changes."""
        if name not in RING_NAMES:
            raise KeyFileError(f"unknown key ring {name!r}; known: {', '.join(RING_NAMES)}")
        path = self._path(name)
        mtime = path.stat().st_mtime if path.exists() else -1.0
        cached = self._cache.get(name)
        if cached and cached[0] == mtime:
            return cached[1]
        with self._lock:
            ring = self._load_file(name)
            if ring is None and name not in self._overrides:
                fresh = SigningKey.generate(RING_ALGORITHMS[name])
                self._save(KeyRing(name, (fresh,), fresh.kid), replace=False)
                ring = self._load_file(name)
            ring = self._apply_override(name, ring)
            assert ring is not None
            mtime = path.stat().st_mtime if path.exists() else -1.0
            self._cache[name] = (mtime, ring)
            return ring

    def _apply_override(self, name: str, ring: KeyRing | None) -> KeyRing | None:
        """An env key signs; keys on disk (from before) stay available for verification."""
        value = self._overrides.get(name)
        if value is None:
            return ring
        try:
            key = SigningKey.from_jwk(json.loads(value))
        except ValueError as exc:
            raise KeyFileError(f"CONSENTRY_{name.upper()}_KEY is not a JSON Web Key: {exc}") from exc
        older = tuple(k for k in (ring.keys if ring else ()) if k.kid != key.kid)
        return KeyRing(name, (*older, key), key.kid)

    def rotate(self, name: str) -> SigningKey:
        """Add a fresh key and make it current; earlier keys stay for verification."""
        if name not in RING_NAMES:
            raise KeyFileError(f"unknown key ring {name!r}; known: {', '.join(RING_NAMES)}")
        if name in self._overrides:
            raise KeyFileError(f"key ring {name!r} is set from the environment; rotate it there")
        with self._lock:
            ring = self._load_file(name)
            fresh = SigningKey.generate(RING_ALGORITHMS[name])
            keys = (*(ring.keys if ring else ()), fresh)
            self._save(KeyRing(name, keys, fresh.kid), replace=True)
            self._cache.pop(name, None)
        return fresh

    def secret(self, name: str) -> bytes:
        """A 32-byte symmetric secret (e.g. the pseudonym HMAC key), created on first use."""
        if name not in SECRET_NAMES:
            raise KeyFileError(f"unknown secret {name!r}; known: {', '.join(SECRET_NAMES)}")
        if name in self._overrides:
            try:
                value = _unb64u(str(self._overrides[name]))
            except ValueError as exc:
                raise KeyFileError(f"CONSENTRY_{name.upper()}_KEY is not base64url") from exc
            if len(value) < 32:
                raise KeyFileError(f"CONSENTRY_{name.upper()}_KEY must hold at least 32 bytes")
            return value
        path = self.directory / f"{name}.secret"
        if not path.exists():
            self._ensure_directory()
            _write_private_file(path, _b64u(secrets.token_bytes(32)).encode(), replace=False)
        return _unb64u(_read_private_file(path).decode().strip())
