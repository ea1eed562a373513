"""C2SP tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519 `cosignature/v1`: a checkpoint with a time.

A cosignature states "as of time T, this is the largest consistent tree head I have observed for this
log". The log's own signature says nothing about when; a cosignature does, and a verifier trusts that time
exactly as far as it trusts the cosigner. Consentry judges a zero-knowledge answer fresh or stale as of
that time (`zkp.answer_verifier`): the log's operator runs one cosigner (its clock), and independent
witnesses may add theirs.

Keys are signed-note keys with signature type 0x04: a verifier key is `name+hexid+base64(0x04 || public
key)` and a signer key `PRIVATE+KEY+name+hexid+base64(0x04 || seed)`; the key ID is SHA-256(name || 0x0A ||
0x04 || public key)[:4]. The signature line carries base64(key ID || u64 big-endian timestamp || Ed25519
signature) over "cosignature/v1\\ntime <T>\\n" followed by the checkpoint text. The v1 message does not
commit to the cosigner's name, so one public key must serve one cosigner only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.b64 import b64encode
from ledger.checkpoint import Checkpoint
from ledger.note import (
    MAX_SIGNATURES,
    SIGNATURE_PREFIX,
    NoteError,
    SignerKey,
    VerifierKey,
    _check_name,
    _split_key,
    _split_note,
    note_key_id,
)

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = (1 << 63) - 1
_SIGNATURE_SIZE = 4 + 8 + 64


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who vouched for the checkpoint, and as of which POSIX time."""

    name: str
    key_id: int
    timestamp: int


def _message(text: str, timestamp: int) -> bytes:
    return f"{HEADER}time {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp!r} is not an integer in 0..2**63-1")


def generate_cosigner_key(name: str) -> tuple[str, str]:
    """A fresh cosigner key pair as (signer key, verifier key); keep the first secret, publish the second."""
    _check_name(name, "cosigner key")
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    key_id = note_key_id(name, public, ALG_COSIGNATURE_V1)
    encoded = f"{name}+{key_id:08x}+"
    return (
        f"PRIVATE+KEY+{encoded}{b64encode(bytes([ALG_COSIGNATURE_V1]) + seed)}",
        f"{encoded}{b64encode(bytes([ALG_COSIGNATURE_V1]) + public)}",
    )


def parse_cosigner_key(skey: str) -> SignerKey:
    """Parse `PRIVATE+KEY+name+hexid+base64(0x04 || seed)`; messages never echo the secret part."""
    if not skey.startswith("PRIVATE+KEY+"):
        raise NoteError("cosigner key: must start with PRIVATE+KEY+")
    name, key_id, seed = _split_key(skey[len("PRIVATE+KEY+") :], "cosigner key", ALG_COSIGNATURE_V1)
    signer = SignerKey(name, key_id, seed)
    expected = note_key_id(name, signer.public_key, ALG_COSIGNATURE_V1)
    if key_id != expected:
        raise NoteError(f"cosigner key: key ID {key_id:08x} does not match name and key (expected {expected:08x})")
    return signer


def parse_cosigner_verifier_key(vkey: str) -> VerifierKey:
    """Parse `name+hexid+base64(0x04 || public key)`, checking the key ID against name and key."""
    name, key_id, public_key = _split_key(vkey, "cosigner verifier key", ALG_COSIGNATURE_V1)
    expected = note_key_id(name, public_key, ALG_COSIGNATURE_V1)
    if key_id != expected:
        raise NoteError(
            f"cosigner verifier key: key ID {key_id:08x} does not match name and key (expected {expected:08x})"
        )
    return VerifierKey(name, key_id, public_key)


def cosigner_verifier_key(skey: str) -> str:
    """The public verifier key (type 0x04) that matches a cosigner signer key."""
    signer = parse_cosigner_key(skey)
    return f"{signer.name}+{signer.key_id:08x}+{b64encode(bytes([ALG_COSIGNATURE_V1]) + signer.public_key)}"


def cosign(note: str, cosigner_key: str, timestamp: int) -> str:
    """Add our timestamped cosignature to a checkpoint note, replacing any earlier one by the same key.

    The cosigner vouches for what it has verified: check the log's signature and the checkpoint's
    consistency with what you saw before (`verify_checkpoint`, `verify_consistency`) first."""
    _check_timestamp(timestamp)
    text, signatures = _split_note(note)
    Checkpoint.parse(text)
    signer = parse_cosigner_key(cosigner_key)
    kept = [s.line + "\n" for s in signatures if (s.name, s.key_id) != (signer.name, signer.key_id)]
    if len(kept) + 1 > MAX_SIGNATURES:
        raise NoteError(f"note already has {len(kept)} signatures; one more exceeds the limit of {MAX_SIGNATURES}")
    raw = signer.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signer.sign(_message(text, timestamp))
    return f"{text}\n{''.join(kept)}{SIGNATURE_PREFIX}{signer.name} {b64encode(raw)}\n"


def verify_cosignatures(note: str | bytes, cosigner_keys: Sequence[str]) -> list[Cosignature]:
    """The cosignatures on the note by the given keys that verify; lines by other keys are ignored.

    A line by a known key that fails (bad signature, malformed timestamp) rejects the note, as a failing
    known signature does in `verify_note`. An empty result means no known cosigner vouched for it."""
    if isinstance(cosigner_keys, str):
        raise TypeError("cosigner_keys is a sequence of key strings, not a single string")
    known: dict[tuple[str, int], VerifierKey] = {}
    for encoded in cosigner_keys:
        key = parse_cosigner_verifier_key(encoded)
        if known.setdefault((key.name, key.key_id), key) != key:
            raise NoteError(f"ambiguous cosigner keys: two different keys are named {key.name}+{key.key_id:08x}")
    text, signatures = _split_note(note)
    verified: list[Cosignature] = []
    for line in signatures:
        signer = known.get((line.name, line.key_id))
        if signer is None:
            continue
        if len(line.signature) != _SIGNATURE_SIZE - 4:
            raise NoteError(f"cosignature by {line.name}+{line.key_id:08x} is not a timestamp and an Ed25519 signature")
        timestamp = int.from_bytes(line.signature[:8], "big")
        _check_timestamp(timestamp)
        if not signer.verifies(_message(text, timestamp), line.signature[8:]):
            raise NoteError(f"invalid cosignature for key {line.name}+{line.key_id:08x}")
        verified.append(Cosignature(line.name, line.key_id, timestamp))
    return verified
