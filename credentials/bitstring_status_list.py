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
from credentials.errors import KeyFormatError, StatusListError
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


def _check_purpose(purpose: str) -> None:
    if purpose not in STATUS_PURPOSES:
        raise StatusListError(f"statusPurpose must be one of {', '.join(STATUS_PURPOSES)}")
