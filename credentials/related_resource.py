"""Integrity of related resources (VC 2.0 §5.3): `relatedResource` entries and their digests.

A credential may pin the exact bytes of what it depends on (its contexts, an image, a schema) by listing
the resource's `id` with a `digestSRI` (Subresource Integrity hash-expressions) or a `digestMultibase`
(a multibase multihash, Data Integrity §2.6). A digest can only be checked against bytes we hold: the
bundled contexts, or resources a caller hands in. Nothing is fetched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

from credentials.contexts import bundled_bytes
from credentials.errors import ContextError, KeyFormatError, ValidationError
from credentials.multibase import b58decode, b64url_decode
from ledger.b64 import Base64Error, b64decode

RULE = "related-resource"
DIGEST_RULE = "related-resource-digest"

# SRI §3.5 hash-algo: the three algorithms every user agent supports.
_SRI_ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_SRI_EXPRESSION = re.compile(r"^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})(\?[\x21-\x7e]*)?$")

# Multihash codes of the SHA-2 and SHA-3 functions Data Integrity §2.6 names, with their digest sizes.
_MULTIHASH: dict[int, tuple[Callable[[bytes], Any], int]] = {
    0x12: (hashlib.sha256, 32),
    0x20: (hashlib.sha384, 48),
    0x13: (hashlib.sha512, 64),
    0x16: (hashlib.sha3_256, 32),
    0x15: (hashlib.sha3_384, 48),
    0x14: (hashlib.sha3_512, 64),
}
_MAX_DIGEST_CHARS = 256

Digest = tuple[Callable[[bytes], Any], bytes]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_sri(value: Any) -> list[Digest]:
    """Every hash-expression of a digestSRI value (whitespace-separated, SRI §3.5)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 4 * _MAX_DIGEST_CHARS:
        raise ValidationError(RULE, "digestSRI must be a string of SRI hash-expressions such as sha384-…")
    digests = []
    for expression in value.split():
        match = _SRI_EXPRESSION.match(expression)
        if match is None:
            raise ValidationError(RULE, f"digestSRI {expression!r} is not an SRI hash-expression (sha256|384|512-…)")
        algorithm = _SRI_ALGORITHMS[match.group(1)]
        try:
            digest = b64decode(match.group(2), canonical=False)
        except Base64Error:
            raise ValidationError(RULE, f"digestSRI {expression!r} is not valid base64") from None
        if len(digest) != algorithm(b"").digest_size:
            raise ValidationError(RULE, f"digestSRI {expression!r} has the wrong length for {match.group(1)}")
        digests.append((algorithm, digest))
    return digests


def parse_multibase(value: Any) -> list[Digest]:
    """Every multihash of a digestMultibase value (one string or a list), base58btc `z` or base64url `u`."""
    digests = []
    for item in _as_list(value):
        if not isinstance(item, str) or len(item) > _MAX_DIGEST_CHARS or item[:1] not in ("z", "u"):
            raise ValidationError(RULE, "digestMultibase must be a multibase (z or u) multihash string")
        try:
            raw = b58decode(item[1:]) if item[0] == "z" else b64url_decode(item[1:])
        except KeyFormatError as exc:
            raise ValidationError(RULE, f"digestMultibase {item!r}: {exc}") from None
        if len(raw) < 2 or raw[0] not in _MULTIHASH:
            raise ValidationError(RULE, f"digestMultibase {item!r} is not a SHA-2 or SHA-3 multihash")
        algorithm, size = _MULTIHASH[raw[0]]
        if raw[1] != size or len(raw) != size + 2:
            raise ValidationError(RULE, f"digestMultibase {item!r} has the wrong digest length")
        digests.append((algorithm, raw[2:]))
    return digests


def validate_related_resources(
    credential: Mapping[str, Any], *, resources: Mapping[str, bytes] | None = None
) -> list[str]:
    """Check the shape of every entry and the digest of each resource we hold; the ids left unchecked.

    Raises ValidationError: `related-resource` for a malformed entry, `related-resource-digest` when bytes we
    hold do not match a digest the issuer pinned.
    """
    if "relatedResource" not in credential:
        return []
    seen: set[str] = set()
    unchecked: list[str] = []
    for entry in _as_list(credential["relatedResource"]):
        if not isinstance(entry, Mapping):
            raise ValidationError(RULE, "each relatedResource must be an object with an id and a digest")
        resource_id = entry.get("id")
        if not isinstance(resource_id, str) or not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", resource_id):
            raise ValidationError(RULE, "each relatedResource needs an id that is a URL")
        if resource_id in seen:
            raise ValidationError(RULE, f"relatedResource id {resource_id} is listed twice")
        seen.add(resource_id)
        if "digestSRI" not in entry and "digestMultibase" not in entry:
            raise ValidationError(RULE, f"relatedResource {resource_id} needs a digestSRI or a digestMultibase")
        digests = []
        if "digestSRI" in entry:
            digests += parse_sri(entry["digestSRI"])
        if "digestMultibase" in entry:
            digests += parse_multibase(entry["digestMultibase"])
        content = _held(resource_id, resources)
        if content is None:
            unchecked.append(resource_id)
            continue
        for algorithm, expected in digests:
            if not hmac.compare_digest(algorithm(content).digest(), expected):
                raise ValidationError(DIGEST_RULE, f"relatedResource {resource_id} does not match its digest")
    return unchecked


def _held(resource_id: str, resources: Mapping[str, bytes] | None) -> bytes | None:
    if resources is not None and resource_id in resources:
        return resources[resource_id]
    try:
        return bundled_bytes(resource_id)
    except ContextError:
        return None
