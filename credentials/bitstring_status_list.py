"""W3C Bitstring Status List v1.0: entries, the list credential, encoding, and bit checks.

Index 0 is the most significant bit of the first byte. The list is GZIP-compressed and
base64url-encoded with the multibase `u` prefix. Lists hold at least 131,072 entries and indexes
are drawn at random, so a list's bits reveal nothing about issuance order or volume (§6.5 herd privacy).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from typing import Any

from credentials.contexts import VC_V2
from credentials.errors import KeyFormatError, StatusListError, ValidationError
from credentials.multibase import b64url_decode, b64url_encode

MIN_LIST_SIZE = 131_072
MAX_LIST_BYTES = 16 * 1024 * 1024
STATUS_PURPOSES = ("revocation", "suspension", "refresh", "message")


def new_bitstring(size: int = MIN_LIST_SIZE) -> bytearray:
    if size < MIN_LIST_SIZE or size % 8:
        raise StatusListError(f"a status list needs at least {MIN_LIST_SIZE} entries and a whole number of bytes")
    return bytearray(size // 8)


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    _check_index(bits, index)
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytearray, index: int, value: bool) -> None:
    _check_index(bits, index)
    mask = 0x80 >> (index % 8)
    if value:
        bits[index // 8] |= mask
    else:
        bits[index // 8] &= ~mask & 0xFF


def _check_index(bits: bytes | bytearray, index: int) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(bits) * 8:
        raise StatusListError(f"status index {index!r} is outside the list of {len(bits) * 8} entries")


def encode_list(bits: bytes | bytearray) -> str:
    """GZIP (mtime 0, so equal lists encode equally) then multibase base64url."""
    return "u" + b64url_encode(gzip.compress(bytes(bits), mtime=0))


def decode_list(encoded: str) -> bytes:
    """Inverse of encode_list, refusing decompression bombs and lists below the minimum size."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusListError("encodedList must be multibase base64url (prefix 'u')")
    try:
        compressed = b64url_decode(encoded[1:])
    except KeyFormatError as exc:
        raise StatusListError(f"encodedList: {exc}") from None
    inflater = zlib.decompressobj(wbits=31)
    try:
        bits = inflater.decompress(compressed, MAX_LIST_BYTES + 1)
    except zlib.error as exc:
        raise StatusListError(f"encodedList is not GZIP data: {exc}") from None
    if len(bits) > MAX_LIST_BYTES:
        raise StatusListError("decoded status list exceeds the size limit")
    if len(bits) * 8 < MIN_LIST_SIZE:
        raise StatusListError(f"status list has {len(bits) * 8} entries; at least {MIN_LIST_SIZE} are required")
    return bits


def status_entry(list_credential_url: str, index: int, purpose: str = "revocation") -> dict[str, str]:
    """The `credentialStatus` object of a credential (statusListIndex is a string by the spec)."""
    _check_purpose(purpose)
    return {
        "id": f"{list_credential_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_credential_url,
    }


def status_list_credential(
    list_credential_url: str,
    *,
    issuer: str,
    encoded_list: str,
    valid_from: str,
    purpose: str = "revocation",
    valid_until: str | None = None,
) -> dict[str, Any]:
    """The unsigned status list credential; sign it with add_proof before publishing."""
    _check_purpose(purpose)
    credential: dict[str, Any] = {
        "@context": [VC_V2],
        "id": list_credential_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{list_credential_url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list,
        },
    }
    if valid_until is not None:
        credential["validUntil"] = valid_until
    return credential


def entry_index(entry: Mapping[str, Any]) -> int:
    raw = entry.get("statusListIndex")
    if not isinstance(raw, str) or not raw.isdigit() or (len(raw) > 1 and raw[0] == "0"):
        raise StatusListError(f"statusListIndex must be a decimal string, got {raw!r}")
    return int(raw)


def check_status(entry: Mapping[str, Any], list_credential: Mapping[str, Any]) -> bool:
    """True when the entry's bit is set in the (already verified) status list credential."""
    if entry.get("type") != "BitstringStatusListEntry":
        raise StatusListError("credentialStatus type must be BitstringStatusListEntry")
    if entry.get("statusListCredential") != list_credential.get("id"):
        raise StatusListError("status list credential id does not match the entry's statusListCredential")
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("status list credential subject must be a BitstringStatusList")
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise StatusListError("status purpose of the entry and of the list differ")
    return get_bit(decode_list(subject.get("encodedList", "")), entry_index(entry))


def validate_entry(entry: object) -> None:
    """A BitstringStatusListEntry as §2.1 defines it; each broken rule is named `credentialStatus-<member>`."""
    if not isinstance(entry, Mapping):
        raise ValidationError("credentialStatus", "each credentialStatus must be an object")
    if entry.get("type") != "BitstringStatusListEntry":
        raise ValidationError("credentialStatus-type", "credentialStatus type must be BitstringStatusListEntry")
    purpose = entry.get("statusPurpose")
    if purpose not in STATUS_PURPOSES:
        raise ValidationError("credentialStatus-purpose", f"statusPurpose must be one of {', '.join(STATUS_PURPOSES)}")
    try:
        entry_index(entry)
    except StatusListError as exc:
        raise ValidationError("credentialStatus-index", str(exc)) from None
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or not _is_url(url):
        raise ValidationError("credentialStatus-list", "statusListCredential must be the URL of a status list")
    if "id" in entry and (not isinstance(entry["id"], str) or not _is_url(entry["id"]) or entry["id"] == url):
        raise ValidationError("credentialStatus-id", "an entry's id must be a URL other than its status list's")
    size = entry.get("statusSize", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValidationError("credentialStatus-size", "statusSize must be a positive integer")
    if size > 1 and not isinstance(entry.get("statusMessage"), list):
        raise ValidationError("credentialStatus-message", "an entry with statusSize > 1 needs statusMessage")


def _is_url(value: str) -> bool:
    scheme, _, rest = value.partition(":")
    return bool(scheme) and scheme[0].isalpha() and bool(rest) and not any(c.isspace() for c in value)


def _check_purpose(purpose: str) -> None:
    if purpose not in STATUS_PURPOSES:
        raise StatusListError(f"statusPurpose must be one of {', '.join(STATUS_PURPOSES)}")
