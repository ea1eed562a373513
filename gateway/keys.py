"""The gateway's signing keys and secrets: JWK key rings and secrets in the data directory, or given by env.

A ring holds every key ever used under its name, newest current. Signing uses the current key; verifiers look
keys up by `kid` (RFC 7638 thumbprint), so rotating never invalidates a token or checkpoint already issued.
The files are kept by `keyfiles` (mode 0600, atomic writes, re-read when changed, so a rotation done by
`consentry keys rotate` reaches a running server without a restart); this module owns the JWK ring format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from keyfiles import KeyDirectory, KeyFileError, Ring, RingFile
from ledger.b64 import b64url_decode, b64url_encode

# The credential issuer's keys are not here: they are Multikeys in `credentials.IssuerKeyring`, which also
# publishes them in the did:web document (one place, so rotation cannot leave the two out of step).
RING_NAMES = ("token", "checkpoint", "events")
SECRET_NAMES = ("pseudonym", "custody")


PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey

# Access tokens use ES256: the JOSE libraries CRMs use verify it everywhere, while "EdDSA" is deprecated by
# RFC 9864 and its successor is not yet widely supported. Checkpoints are Ed25519 by their spec; change events to
# recipients are signed with Ed25519 as RFC 9421 (HTTP Message Signatures) registers it.
RING_ALGORITHMS = {"token": "ES256", "checkpoint": "EdDSA", "events": "EdDSA"}


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
        return cls(b64url_encode(hashlib.sha256(thumbprint_input.encode()).digest()), private_key, created)

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
        return {**self.public_jwk(), "d": b64url_encode(d)}


def _public_members(private_key: PrivateKey) -> dict[str, str]:
    """The RFC 7638 required members of the public key, which are also its thumbprint input."""
    if isinstance(private_key, Ed25519PrivateKey):
        x = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(x)}
    numbers = private_key.public_key().public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def _private_from_jwk(jwk: dict[str, Any]) -> PrivateKey:
    d = jwk.get("d")
    if not isinstance(d, str):
        raise KeyFileError("expected a private JWK (with d)")
    try:
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PrivateKey.from_private_bytes(b64url_decode(d, canonical=False))
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ec.derive_private_key(int.from_bytes(b64url_decode(d, canonical=False), "big"), ec.SECP256R1())
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


class _JwkRingCodec:
    """`{"current": kid, "keys": [private JWK + "created", ...]}`, the format of `token.json` and
    `checkpoint.json` since the first release."""

    def decode(self, data: bytes) -> Ring[SigningKey]:
        document = json.loads(data)
        keys = tuple(SigningKey.from_jwk(entry, entry.get("created")) for entry in document["keys"])
        current = str(document["current"])
        index = next((i for i, key in enumerate(keys) if key.kid == current), None)
        if index is None:
            raise ValueError(f"the current kid {current!r} is not in the ring")
        return Ring(keys, index)

    def encode(self, ring: Ring[SigningKey]) -> bytes:
        document = {
            "current": ring.current.kid,
            "keys": [{**key.private_jwk(), "created": key.created} for key in ring.keys],
        }
        return json.dumps(document, indent=2).encode()


_JWK_RING = _JwkRingCodec()


def _with_override(name: str, value: str, older: tuple[SigningKey, ...]) -> KeyRing:
    """An env key signs; keys on disk (from before) stay available for verification."""
    try:
        key = SigningKey.from_jwk(json.loads(value))
    except ValueError as exc:
        raise KeyFileError(f"CONSENTRY_{name.upper()}_KEY is not a JSON Web Key: {exc}") from exc
    return KeyRing(name, (*(k for k in older if k.kid != key.kid), key), key.kid)


class KeyStore:
    """Key rings and secrets of one data directory, with optional overrides from the environment."""

    def __init__(self, directory: Path, overrides: dict[str, str | None] | None = None) -> None:
        self.directory = directory
        self._files = KeyDirectory(directory)
        self._overrides = {name: value for name, value in (overrides or {}).items() if value}
        self._rings = {name: RingFile(self._files, f"{name}.json", _JWK_RING) for name in RING_NAMES}
        self._cache: dict[str, tuple[Ring[SigningKey] | None, KeyRing]] = {}

    def ring(self, name: str) -> KeyRing:
        """The named ring, created with one fresh key on first use; re-read when its file changes."""
        if name not in RING_NAMES:
            raise KeyFileError(f"unknown key ring {name!r}; known: {', '.join(RING_NAMES)}")
        file = self._rings[name]
        override = self._overrides.get(name)
        if override is None:
            ring = file.load_or_create(lambda: SigningKey.generate(RING_ALGORITHMS[name]))
            return self._built(name, ring, lambda: KeyRing(name, ring.keys, ring.current.kid))
        on_disk = file.load()
        return self._built(name, on_disk, lambda: _with_override(name, override, on_disk.keys if on_disk else ()))

    def _built(self, name: str, source: Ring[SigningKey] | None, build: Callable[[], KeyRing]) -> KeyRing:
        """The KeyRing made from `source`, rebuilt only when the file gave a new ring."""
        cached = self._cache.get(name)
        if cached is not None and cached[0] is source:
            return cached[1]
        ring = build()
        self._cache[name] = (source, ring)
        return ring

    def rotate(self, name: str) -> SigningKey:
        """Add a fresh key and make it current; earlier keys stay for verification."""
        if name not in RING_NAMES:
            raise KeyFileError(f"unknown key ring {name!r}; known: {', '.join(RING_NAMES)}")
        if name in self._overrides:
            raise KeyFileError(f"key ring {name!r} is set from the environment; rotate it there")
        return self._rings[name].rotate(lambda: SigningKey.generate(RING_ALGORITHMS[name]))

    def secret(self, name: str) -> bytes:
        """A symmetric secret of at least 32 bytes (e.g. the pseudonym HMAC key), created on first use; secrets
        never rotate (see `keyfiles.directory`)."""
        if name not in SECRET_NAMES:
            raise KeyFileError(f"unknown secret {name!r}; known: {', '.join(SECRET_NAMES)}")
        return self._files.secret(name, override=self._overrides.get(name), variable=f"CONSENTRY_{name.upper()}_KEY")
