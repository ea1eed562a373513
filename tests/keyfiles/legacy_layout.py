"""A data directory's `keys/` as the gateway wrote it before `keyfiles` existed (up to commit 66d721f), built from
that format's description with `cryptography` alone, so the tests do not check the new store against itself.

The layout (every file mode 0600, the directory 0700):
- `token.json`, `checkpoint.json`: `{"current": kid, "keys": [JWK, ...]}` (`json.dumps(..., indent=2)`, no final
  newline); each JWK is the RFC 7638 public members, then `kid` (RFC 7638 thumbprint), `alg`, `use: "sig"`, `d`
  and `created` (ISO 8601). Tokens are ES256 (P-256), checkpoints EdDSA (Ed25519).
- `pseudonym.secret`, `custody.secret`, `zk-opening.secret`: 32 random bytes, base64url without padding, no newline.
- `credential-issuer.json`: `{"keys": [privateKeyMultibase, ...]}` (indent 2, final newline), the last one current.
- A custodial DID key, sealed: nonce(12) ‖ AES-256-GCM(seed; associated data: the DID), the AES key
  HKDF-SHA256(custody secret, no salt, info "consentry custodial did:key sealing v1").
- A zero-knowledge opening, sealed: nonce(12) ‖ AES-256-GCM(opening; associated data: the row binding), the AES
  key SHA-256("consentry/zk/opening-seal/v1" ‖ zk-opening secret).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from credentials.multibase import ED25519_PRIV_PREFIX, ED25519_PUB_PREFIX, multibase_encode

CUSTODY_INFO = b"consentry custodial did:key sealing v1"
OPENING_LABEL = b"consentry/zk/opening-seal/v1"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _ed25519_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64u(_raw_public(key))}
    return _complete(members, "EdDSA", _seed(key))


def _p256_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    members = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64u(numbers.x.to_bytes(32, "big")),
        "y": _b64u(numbers.y.to_bytes(32, "big")),
    }
    return _complete(members, "ES256", key.private_numbers().private_value.to_bytes(32, "big"))


def _complete(members: dict[str, str], alg: str, d: bytes) -> dict[str, str]:
    kid = _b64u(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {**members, "kid": kid, "alg": alg, "use": "sig", "d": _b64u(d)}


def _ring(entries: list[dict[str, str]], created: list[str]) -> bytes:
    keys = [{**entry, "created": when} for entry, when in zip(entries, created, strict=True)]
    return json.dumps({"current": entries[-1]["kid"], "keys": keys}, indent=2).encode()


def did_key(key: Ed25519PrivateKey) -> str:
    return "did:key:" + multibase_encode(
        ED25519_PUB_PREFIX + key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


@dataclass(frozen=True)
class LegacyKeys:
    """What was written, to compare with what the new store reads."""

    token: list[dict[str, Any]]
    checkpoint: list[dict[str, Any]]
    secrets: dict[str, bytes]
    issuer: list[str]
    custodial_did: str
    custodial_seed: bytes
    sealed_custodial_key: bytes
    opening: bytes
    opening_binding: bytes
    sealed_opening: bytes


def write_legacy_keys(directory: Path, opening: bytes, opening_binding: bytes) -> LegacyKeys:
    """A rotated token ring (two keys), a checkpoint ring, the three secrets, a rotated issuer ring, and one
    sealed custodial key and one sealed opening as they would sit in the database."""
    directory.mkdir(mode=0o700, parents=True)
    token = [_p256_jwk(ec.generate_private_key(ec.SECP256R1())) for _ in range(2)]
    checkpoint = [_ed25519_jwk(Ed25519PrivateKey.generate())]
    _write(directory / "token.json", _ring(token, ["2026-01-02T03:04:05+00:00", "2026-06-07T08:09:10+00:00"]))
    _write(directory / "checkpoint.json", _ring(checkpoint, ["2026-01-02T03:04:05.123456+00:00"]))
    secrets = {name: os.urandom(32) for name in ("pseudonym", "custody", "zk-opening")}
    for name, value in secrets.items():
        _write(directory / f"{name}.secret", _b64u(value).encode())
    issuer = [
        multibase_encode(
            ED25519_PRIV_PREFIX
            + Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        )
        for _ in range(2)
    ]
    _write(directory / "credential-issuer.json", (json.dumps({"keys": issuer}, indent=2) + "\n").encode())

    custodial = Ed25519PrivateKey.generate()
    did = did_key(custodial)
    seed = _seed(custodial)
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CUSTODY_INFO).derive(secrets["custody"])
    nonce = os.urandom(12)
    sealed_key = nonce + AESGCM(kek).encrypt(nonce, seed, did.encode())

    opening_key = hashlib.sha256(OPENING_LABEL + secrets["zk-opening"]).digest()
    nonce = os.urandom(12)
    sealed_opening = nonce + AESGCM(opening_key).encrypt(nonce, opening, opening_binding)
    return LegacyKeys(
        token=token,
        checkpoint=checkpoint,
        secrets=secrets,
        issuer=issuer,
        custodial_did=did,
        custodial_seed=seed,
        sealed_custodial_key=sealed_key,
        opening=opening,
        opening_binding=opening_binding,
        sealed_opening=sealed_opening,
    )
