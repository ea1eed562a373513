"""Ed25519 keys as Multikey (multicodec + multibase base58btc) and as JWK, the two forms peers exchange."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from credentials.errors import KeyFormatError
from credentials.multibase import (
    ED25519_PRIV_PREFIX,
    ED25519_PUB_PREFIX,
    b64url_decode,
    b64url_encode,
    multibase_decode,
    multibase_encode,
)


@dataclass(frozen=True)
class Ed25519KeyPair:
    """A signing key with its Multikey encodings; the private half never appears in repr."""

    private_key_multibase: str
    public_key_multibase: str

    def __repr__(self) -> str:
        return f"Ed25519KeyPair(public_key_multibase={self.public_key_multibase!r})"


def generate_key_pair() -> Ed25519KeyPair:
    key = Ed25519PrivateKey.generate()
    return key_pair_from_private(key)


def key_pair_from_private(key: Ed25519PrivateKey) -> Ed25519KeyPair:
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Ed25519KeyPair(
        private_key_multibase=multibase_encode(ED25519_PRIV_PREFIX + seed),
        public_key_multibase=multibase_encode(ED25519_PUB_PREFIX + public),
    )


def private_key_from_multibase(value: str) -> Ed25519PrivateKey:
    raw = multibase_decode(value)
    if not value.startswith("z") or raw[:2] != ED25519_PRIV_PREFIX or len(raw) != 34:
        raise KeyFormatError("privateKeyMultibase must be base58btc 0x8026 (ed25519-priv) + 32-byte seed")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    raw = multibase_decode(value)
    if not value.startswith("z") or raw[:2] != ED25519_PUB_PREFIX or len(raw) != 34:
        raise KeyFormatError("publicKeyMultibase must be base58btc 0xed01 (ed25519-pub) + 32-byte key")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))}


def private_jwk(private_key_multibase: str) -> dict[str, str]:
    """didkit takes keys as JWK; this bridges our Multikey secrets to it."""
    key = private_key_from_multibase(private_key_multibase)
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {**public_jwk(key.public_key()), "d": b64url_encode(seed)}


def public_key_from_jwk(jwk: dict[str, object]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise KeyFormatError("JWK must be an OKP Ed25519 public key")
    raw = b64url_decode(str(jwk["x"]))
    if len(raw) != 32:
        raise KeyFormatError("Ed25519 JWK 'x' must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def ed25519_verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
