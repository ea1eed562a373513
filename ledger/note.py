"""C2SP signed-note (c2sp.org/signed-note) with Ed25519 keys, wire-compatible with golang.org/x/mod/sumdb/note.

A note is text signed by one or more keys; the text means nothing until a trusted key's signature on
it has verified, so this module offers no way to read a note's text without verifying it.

Key encodings are Go's: a verifier key is `name+hexid+base64(0x01 || public key)`, a signer key is
`PRIVATE+KEY+name+hexid+base64(0x01 || seed)`, and the key ID is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key). Ed25519 is deterministic, so for the same key and text
our notes are byte-identical to Go's.

Where the spec leaves room, this module is at least as strict as Go and fails closed:
- every signature by a known key is verified, and one that fails rejects the note (Go checks only
  the first signature per key and skips repeats);
- base64 must be canonical, and key IDs lowercase hex (Go's own encoders produce exactly that);
- two different verifier keys with the same name and ID are a configuration error, raised at once
  (identical duplicates are harmless and collapse);
- at most 100 signature lines, as in Go (the spec requires accepting at least 16).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.b64 import Base64Error, b64decode, b64encode

ALG_ED25519 = 0x01
ED25519_KEY_SIZE = 32
MAX_SIGNATURES = 100
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note or key is malformed, or no trusted key signed the note; the message says which and why."""


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 and c != "\n" for c in text)


def _require_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8 (unpaired surrogate at offset {exc.start})") from None


def _is_valid_key_name(name: str) -> bool:
    """Key names are non-empty and carry no Unicode space, plus sign or control character."""
    return bool(name) and "+" not in name and not any(c.isspace() or ord(c) < 0x20 for c in name)


def _check_name(name: str, what: str) -> None:
    if not _is_valid_key_name(name):
        raise NoteError(f"{what}: invalid key name {name!r} (must be non-empty, without spaces or '+')")


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: padded, no stray characters, and canonical, so one value has one spelling."""
    try:
        return b64decode(text)
    except Base64Error as exc:
        raise NoteError(f"{what} is {exc}") from None


def note_key_id(name: str, public_key: bytes, algorithm: int = ALG_ED25519) -> int:
    """SHA-256(name || 0x0A || algorithm || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([algorithm]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class VerifierKey:
    """A parsed verifier key: who may sign (name, key ID) and the Ed25519 public key that proves it."""

    name: str
    key_id: int
    public_key: bytes

    def encode(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A parsed signer key; the seed stays out of repr so it cannot reach a log by accident."""

    name: str
    key_id: int
    seed: bytes = field(repr=False)

    @property
    def public_key(self) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()

    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_id, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def _split_key(encoded: str, what: str, algorithm: int = ALG_ED25519) -> tuple[str, int, bytes]:
    """name+hexid+base64: the base64 may itself contain '+', so split only twice.

    `algorithm` is the signature type byte the key must carry: 0x01 for note signatures, 0x04 for
    timestamped cosignatures (`ledger.cosignature`), which use Ed25519 keys too."""
    parts = encoded.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what}: expected name+keyid+base64key")
    name, key_id_hex, key64 = parts
    _check_name(name, what)
    if not _KEY_ID_RE.fullmatch(key_id_hex):
        raise NoteError(f"{what}: key ID {key_id_hex!r} is not 8 lowercase hex digits")
    key = _b64decode(key64, f"{what}: key")
    if not key:
        raise NoteError(f"{what}: key is empty")
    if key[0] != algorithm:
        raise NoteError(f"{what}: unknown signature algorithm 0x{key[0]:02x} (expected 0x{algorithm:02x})")
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise NoteError(f"{what}: Ed25519 key is {len(key) - 1} bytes, expected {ED25519_KEY_SIZE}")
    return name, int(key_id_hex, 16), key[1:]


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse `name+hexid+base64(0x01 || public key)`, checking the key ID against name and key."""
    name, key_id, public_key = _split_key(vkey, "verifier key")
    expected = note_key_id(name, public_key)
    if key_id != expected:
        raise NoteError(f"verifier key: key ID {key_id:08x} does not match name and key (expected {expected:08x})")
    return VerifierKey(name, key_id, public_key)


def parse_signer_key(skey: str) -> SignerKey:
    """Parse `PRIVATE+KEY+name+hexid+base64(0x01 || seed)`; messages never echo the secret part."""
    if not skey.startswith("PRIVATE+KEY+"):
        raise NoteError("signer key: must start with PRIVATE+KEY+")
    name, key_id, seed = _split_key(skey[len("PRIVATE+KEY+") :], "signer key")
    signer = SignerKey(name, key_id, seed)
    expected = note_key_id(name, signer.public_key)
    if key_id != expected:
        raise NoteError(f"signer key: key ID {key_id:08x} does not match name and key (expected {expected:08x})")
    return signer


def ed25519_verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for a raw 32-byte Ed25519 public key (Go's NewEd25519VerifierKey)."""
    _check_name(name, "verifier key")
    if len(public_key) != ED25519_KEY_SIZE:
        raise NoteError(f"verifier key: Ed25519 key is {len(public_key)} bytes, expected {ED25519_KEY_SIZE}")
    return VerifierKey(name, note_key_id(name, public_key), public_key).encode()


def generate_signer_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair as (signer key, verifier key); keep the first secret, publish the second."""
    _check_name(name, "signer key")
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    signer = SignerKey(name, 0, seed)
    key_id = note_key_id(name, signer.public_key)
    skey = f"PRIVATE+KEY+{name}+{key_id:08x}+{b64encode(bytes([ALG_ED25519]) + seed)}"
    return skey, VerifierKey(name, key_id, signer.public_key).encode()


def verifier_key_from_signer(skey: str) -> str:
    """The public verifier key that matches a signer key."""
    return parse_signer_key(skey).verifier().encode()


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_id: int
    signature: bytes
    line: str


def _check_note_text(text: str) -> None:
    _require_utf8(text, "note text")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _has_control(text):
        raise NoteError("note text contains an ASCII control character other than newline")


def _split_note(note: str | bytes) -> tuple[str, list[_SignatureLine]]:
    """Text and signature lines of a note, checked for form only: nothing here is trusted yet."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"note is not valid UTF-8 (byte offset {exc.start})") from None
    _require_utf8(note, "note")
    if _has_control(note):
        raise NoteError("note contains an ASCII control character other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note's last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signature lines, more than the limit of {MAX_SIGNATURES}")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash (U+2014) and a space")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        _check_name(name, f"signature line {number}")
        raw = _b64decode(b64, f"signature line {number}")
        if len(raw) < 5:
            raise NoteError(f"signature line {number} is too short for a key ID and a signature")
        signatures.append(_SignatureLine(name, int.from_bytes(raw[:4], "big"), raw[4:], line))
    return text, signatures


def _index_keys(verifier_keys: Sequence[str]) -> dict[tuple[str, int], VerifierKey]:
    if isinstance(verifier_keys, str):
        raise TypeError("verifier_keys is a sequence of key strings, not a single string")
    known: dict[tuple[str, int], VerifierKey] = {}
    for encoded in verifier_keys:
        key = parse_verifier_key(encoded)
        other = known.setdefault((key.name, key.key_id), key)
        if other != key:
            raise NoteError(f"ambiguous verifier keys: two different keys are named {key.name}+{key.key_id:08x}")
    return known


def verify_note(note: str | bytes, verifier_keys: Sequence[str]) -> str:
    """Return the note's text once at least one known key's signature verifies.

    Signatures by unknown keys (even sharing a name or an ID with a known key) are ignored, as the
    spec requires; a known key whose signature fails rejects the whole note.
    """
    known = _index_keys(verifier_keys)
    text, signatures = _split_note(note)
    message = text.encode("utf-8")
    verified = False
    for sig in signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            continue
        if not key.verifies(message, sig.signature):
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified = True
    if not verified:
        seen = ", ".join(sorted({f"{s.name}+{s.key_id:08x}" for s in signatures}))
        raise NoteError(f"note has no verifiable signatures (signed by: {seen}; none is a known key)")
    return text


def _signature_line(signer: SignerKey, text: str) -> str:
    signature = signer.key_id.to_bytes(4, "big") + signer.sign(text.encode("utf-8"))
    return f"{SIGNATURE_PREFIX}{signer.name} {b64encode(signature)}\n"


def sign_note(text: str, signer_key: str) -> str:
    """Sign `text` (which must end in a newline) and return the signed note."""
    _check_note_text(text)
    signer = parse_signer_key(signer_key)
    return f"{text}\n{_signature_line(signer, text)}"


def add_signature(note: str, signer_key: str) -> str:
    """Cosign an already signed note: keep its signatures, replace any by the same key, append ours.

    Existing signatures are not verified here (the cosigner verifies what it trusts first, with
    verify_note); they are only carried over, exactly as Go's note.Sign does.
    """
    text, signatures = _split_note(note)
    signer = parse_signer_key(signer_key)
    kept = [s.line + "\n" for s in signatures if (s.name, s.key_id) != (signer.name, signer.key_id)]
    if len(kept) + 1 > MAX_SIGNATURES:
        raise NoteError(f"note already has {len(kept)} signatures; one more exceeds the limit of {MAX_SIGNATURES}")
    return f"{text}\n{''.join(kept)}{_signature_line(signer, text)}"
