"""Ledger entries: the RFC 8785 canonical JSON envelope that becomes a leaf, and the event it records.

The leaf commits to the payload only through a salted hash, so the payload (which may hold personal
data) can be erased later (GDPR Art. 17) without changing a single leaf, node or checkpoint. Subjects
appear only as keyed pseudonyms (`pseudonym`), never as raw identifiers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import rfc8785

from ledger.b64 import b64encode
from ledger.errors import EventError
from ledger.randomness import random_bytes

ENVELOPE_VERSION = 1
ENVELOPE_KEYS = frozenset({"v", "type", "time", "actor", "subject", "payload_hash"})
EVENT_KEYS = frozenset({"type", "actor", "subject", "payload", "time"})
SALT_SIZE = 32
ERASURE_TYPE = "ledger.erasure"


def pseudonym(key: bytes, subject_id: str) -> str:
    """Keyed HMAC-SHA256 of the subject id, hex: stable per key, unlinkable without it."""
    if len(key) < 16:
        raise EventError("pseudonym key must be at least 16 bytes")
    return hmac.new(key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and `Z`: one spelling per instant, so the leaf is canonical."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise EventError("event time must be timezone-aware (UTC)")
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime writes such years unpadded; existing leaves keep their spelling
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # a third of strftime's cost


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise EventError(f"time {text!r} is not RFC 3339") from exc
    if moment.tzinfo is None:
        raise EventError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)


_ENVELOPE_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
_SAFE_INTEGER = 2**53 - 1  # RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles
_FIRST_SURROGATE = "\ud800"
_FAST_PATH_NODES = 100_000
# orjson, compact with sorted keys, writes RFC 8785 bytes for the documents `_plain` admits, up to key order:
# it sorts keys by UTF-8 bytes, RFC 8785 by UTF-16 code units, which agree below U+D800. A lead byte from 0xED
# on marks a character from U+D000 up somewhere in the output (conservatively), and such output is redone.
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_HIGH_CHARACTER = re.compile(rb"[\xed-\xff]")


def _plain(value: Any) -> bool:
    """Whether `value` holds only dicts with string keys, lists, strings, booleans, None and integers in the double
    range, by exact type (subclasses may serialise differently). The rest goes to the canonicaliser: floats
    (ECMAScript number formatting) and integers beyond the double range (it refuses them)."""
    stack = [value]
    budget = _FAST_PATH_NODES  # a cycle (or a monster) goes to the canonicaliser, which refuses cycles
    while stack:
        budget -= 1
        if budget < 0:
            return False
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def _keys_sort_alike(value: Any) -> bool:
    """Whether no key of a `_plain` document holds a character from U+D800 up, where sorting by UTF-16 code unit
    (RFC 8785) and by code point (the C encoder) can disagree."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key in item:
                if key and max(key) >= _FIRST_SURROGATE:
                    return False
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return True


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes, with every refusal of the canonicaliser turned into an EventError.

    Plain documents (every ledger payload the gateway writes) are written by orjson, ~30x cheaper than the C
    JSON encoder with sorted keys, which takes those with characters from U+D000 up (see `canonical_envelope` for
    why it is exact) and is in turn ~5x cheaper than the pure-Python canonicaliser that handles the rest.
    """
    try:
        if _plain(value):
            try:
                written = orjson.dumps(value, option=_ORJSON_OPTIONS)
            except orjson.JSONEncodeError:  # a lone surrogate: the encoders below name it
                written = None
            if written is not None and _HIGH_CHARACTER.search(written) is None:
                return written
            if _keys_sort_alike(value):
                return _ENVELOPE_ENCODER.encode(value).encode("utf-8")
        return rfc8785.dumps(value)
    except UnicodeEncodeError as exc:
        raise EventError(f"not representable as RFC 8785 JSON: a string holds a lone surrogate ({exc.reason})") from exc
    except Exception as exc:  # rfc8785 raises several types (domain errors, TypeError) for non-JSON values
        raise EventError(f"not representable as RFC 8785 JSON: {exc}") from exc


def canonical_envelope(envelope: Mapping[str, str | int | None]) -> bytes:
    """RFC 8785 bytes of an envelope through orjson: far cheaper than the canonicaliser on every append.

    Sound only for the envelope's values (strings, small integers, null) under ASCII keys: there orjson
    with sorted keys writes what RFC 8785 (ECMAScript JSON.stringify) writes: no whitespace, the same short
    escapes, lowercase \\u00xx for other controls, all else raw, and ASCII keys sort alike by UTF-16 unit or
    code point. A lone surrogate is not Unicode, so not JSON: the standard encoder says where it is.
    """
    try:
        return orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        pass
    try:
        return _ENVELOPE_ENCODER.encode(envelope).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EventError(f"not representable as RFC 8785 JSON: a string holds a lone surrogate ({exc.reason})") from exc


def payload_hash(salt: bytes, payload_json: bytes) -> str:
    """base64(SHA-256(salt || RFC 8785 payload)): the salt stops guessing a small payload from its hash."""
    return b64encode(hashlib.sha256(salt + payload_json).digest())


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise EventError(f"event {name} must be a non-empty string")
    return value


@dataclass(frozen=True)
class Event:
    """What happened, by whom, about which pseudonymous subject; the payload stays beside the log."""

    type: str
    actor: str
    subject: str | None = None
    payload: Mapping[str, Any] | None = None
    time: datetime | None = None

    @classmethod
    def from_mapping(cls, obj: object) -> Event:
        """An event from decoded JSON (`time` as RFC 3339); unknown keys are refused, not ignored."""
        if not isinstance(obj, Mapping):
            raise EventError("an event must be a JSON object")
        unknown = set(obj) - EVENT_KEYS
        if unknown:
            raise EventError(f"unknown event field(s): {', '.join(sorted(map(str, unknown)))}")
        for key in ("type", "actor"):
            if key not in obj:
                raise EventError(f"event field {key!r} is missing")
        payload = obj.get("payload")
        if payload is not None and not isinstance(payload, Mapping):
            raise EventError("event payload must be a JSON object or null")
        time = obj.get("time")
        if time is not None and not isinstance(time, str):
            raise EventError("event time must be an RFC 3339 string")
        return cls(
            type=obj["type"],
            actor=obj["actor"],
            subject=obj.get("subject"),
            payload=payload,
            time=parse_time(time) if time is not None else None,
        )


@dataclass(frozen=True)
class PreparedEntry:
    """An event turned into leaf bytes plus the side-table row that erasure may later delete."""

    data: bytes
    subject: str | None
    salt: bytes | None
    payload_json: bytes | None


def prepare(event: Event) -> PreparedEntry:
    """Validate and canonicalise in the caller's thread, so bad events never reach the sequencer."""
    kind = _text("type", event.type)
    actor = _text("actor", event.actor)
    subject = _text("subject", event.subject, optional=True)
    moment = format_time(event.time if event.time is not None else datetime.now(UTC))
    salt: bytes | None = None
    payload_json: bytes | None = None
    digest: str | None = None
    if event.payload is not None:
        if not isinstance(event.payload, Mapping):
            raise EventError("event payload must be a mapping")
        payload_json = canonical_json(dict(event.payload))
        salt = random_bytes(SALT_SIZE)
        digest = payload_hash(salt, payload_json)
    envelope = {
        "v": ENVELOPE_VERSION,
        "type": kind,
        "time": moment,
        "actor": actor,
        "subject": subject,
        "payload_hash": digest,
    }
    return PreparedEntry(canonical_envelope(envelope), subject, salt, payload_json)


def parse_envelope(data: bytes) -> dict[str, Any]:
    """Decode leaf bytes and insist they are exactly the canonical envelope a ledger writes."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventError(f"entry is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict) or set(obj) != ENVELOPE_KEYS:
        raise EventError("entry is not a ledger envelope (wrong fields)")
    if obj["v"] != ENVELOPE_VERSION:
        raise EventError(f"unknown envelope version {obj['v']!r}")
    if canonical_json(obj) != data:
        raise EventError("entry is not in RFC 8785 canonical form")
    for key in ("type", "actor", "time"):
        _text(key, obj[key])
    _text("subject", obj["subject"], optional=True)
    if obj["payload_hash"] is not None and not isinstance(obj["payload_hash"], str):
        raise EventError("payload_hash must be a string or null")
    return obj
