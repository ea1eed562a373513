"""Ledger evidence that a signed statement was anchored: its entry, included in a signed, time-cosigned checkpoint.

The gateway anchors a signed statement as a ledger entry of type `zk.statement` whose actor is the neutral
`zk:anchor` and whose subject is the statement's subject binding (base64url). The entry names neither the
client whose question prompted it nor the gateway's customer id or pseudonym, so evidence shown to one
recipient says nothing about other recipients' questions or the customer's other entries. The payload is the
signed statement itself. Evidence carries only what a verifier cannot recompute (the entry's index and time,
the payload's salt, the inclusion proof as one base64url string of concatenated hashes, and the checkpoint
note); the verifier rebuilds the entry from the statement, so an entry with any other type, actor, subject
or payload fails inclusion.

When a later statement of the same series is anchored and current by the checkpoint's time, evidence built
then carries it (`Successor`: the signed statement and its own inclusion in the same checkpoint), so a verifier
sees with public material that the answered statement was superseded and by which entry, rather than only that
its window ended. A presenter who leaves the successor out gains nothing: sources' windows never overlap, so a
current successor means the answered statement's window has ended by then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from ledger import Event, EventError, parse_envelope, payload_hash
from zkp.encoding import b64url_decode, b64url_encode
from zkp.errors import EncodingError
from zkp.source_statement import SignedStatement

ANCHOR_EVENT = "zk.statement"
ANCHOR_ACTOR = "zk:anchor"
ENVELOPE_VERSION = 1
PAYLOAD_SALT_SIZE = 32
HASH_SIZE = 32
MAX_PROOF_NODES = 64
MAX_NOTE_LENGTH = 8192
MAX_TIME_LENGTH = 40


def anchor_event(signed: SignedStatement) -> Event:
    """The ledger event that anchors `signed` (append it with `ledger.store.Ledger.append`)."""
    return Event(
        type=ANCHOR_EVENT,
        actor=ANCHOR_ACTOR,
        subject=b64url_encode(signed.statement.subject_binding),
        payload=signed.to_json(),
    )


def anchor_entry(signed: SignedStatement, entry_time: str, payload_salt: bytes) -> bytes:
    """The leaf bytes the ledger wrote for `anchor_event(signed)` at `entry_time` with `payload_salt`."""
    envelope: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "type": ANCHOR_EVENT,
        "time": entry_time,
        "actor": ANCHOR_ACTOR,
        "subject": b64url_encode(signed.statement.subject_binding),
        "payload_hash": payload_hash(payload_salt, signed.canonical()),
    }
    return bytes(rfc8785.dumps(envelope))


def _anchor_position(data: Mapping[str, Any]) -> tuple[int, str, bytes, tuple[bytes, ...]]:
    """An anchor's index, entry time, payload salt and inclusion proof, as evidence encodes them."""
    index, entry_time, nodes = data["ledger_index"], data["entry_time"], data["inclusion_proof"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise EncodingError("ledger_index is a non-negative integer")
    if not isinstance(entry_time, str) or not 0 < len(entry_time) <= MAX_TIME_LENGTH:
        raise EncodingError("entry_time is the entry's RFC 3339 time, as the ledger wrote it")
    if not isinstance(nodes, str) or len(nodes) > (MAX_PROOF_NODES * HASH_SIZE * 4 + 2) // 3:
        raise EncodingError(f"inclusion_proof is base64url of at most {MAX_PROOF_NODES} hashes")
    salt = b64url_decode(data["payload_salt"])
    if len(salt) != PAYLOAD_SALT_SIZE:
        raise EncodingError(f"payload_salt is {PAYLOAD_SALT_SIZE} bytes")
    path = b64url_decode(nodes)
    if len(path) % HASH_SIZE:
        raise EncodingError(f"inclusion_proof is a whole number of {HASH_SIZE}-byte hashes")
    return index, entry_time, salt, tuple(path[i : i + HASH_SIZE] for i in range(0, len(path), HASH_SIZE))


def _position_json(index: int, entry_time: str, salt: bytes, proof: Sequence[bytes]) -> dict[str, Any]:
    return {
        "ledger_index": index,
        "entry_time": entry_time,
        "payload_salt": b64url_encode(salt),
        "inclusion_proof": b64url_encode(b"".join(proof)),
    }


@dataclass(frozen=True)
class Successor:
    """A later statement of the answered statement's series and its anchor's inclusion in the same checkpoint."""

    signed: SignedStatement
    ledger_index: int
    entry_time: str
    payload_salt: bytes
    inclusion_proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.signed.to_json(),
            **_position_json(self.ledger_index, self.entry_time, self.payload_salt, self.inclusion_proof),
        }

    @classmethod
    def from_json(cls, data: object) -> Successor:
        keys = {"statement", "ledger_index", "entry_time", "payload_salt", "inclusion_proof"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise EncodingError(f"a successor is an object with exactly {', '.join(sorted(keys))}")
        return cls(SignedStatement.from_json(data["statement"]), *_anchor_position(data))


@dataclass(frozen=True)
class Evidence:
    """Where the statement is in the ledger and the signed checkpoint that proves it (and, once it was
    superseded, the successor that did it)."""

    ledger_index: int
    entry_time: str
    payload_salt: bytes
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str
    successor: Successor | None = None

    def to_json(self) -> dict[str, Any]:
        document = {
            **_position_json(self.ledger_index, self.entry_time, self.payload_salt, self.inclusion_proof),
            "checkpoint": self.checkpoint,
        }
        if self.successor is not None:
            document["successor"] = self.successor.to_json()
        return document

    @classmethod
    def from_json(cls, data: object) -> Evidence:
        keys = {"ledger_index", "entry_time", "payload_salt", "inclusion_proof", "checkpoint"}
        if not isinstance(data, Mapping) or set(data) - {"successor"} != keys:
            raise EncodingError(f"evidence is an object with exactly {', '.join(sorted(keys))} (and a successor)")
        note = data["checkpoint"]
        if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
            raise EncodingError(f"checkpoint is a signed note of at most {MAX_NOTE_LENGTH} characters")
        successor = Successor.from_json(data["successor"]) if "successor" in data else None
        return cls(*_anchor_position(data), note, successor)

    @classmethod
    def from_ledger(
        cls,
        entry: bytes,
        ledger_index: int,
        payload_salt: bytes,
        inclusion_proof: Sequence[bytes],
        checkpoint: str,
        successor: Successor | None = None,
    ) -> Evidence:
        """Evidence from what a ledger returns for an anchor entry (its bytes, salt, proof, checkpoint)."""
        return cls(
            ledger_index, anchor_time(entry, ledger_index), payload_salt, tuple(inclusion_proof), checkpoint, successor
        )


def anchor_time(entry: bytes, ledger_index: int) -> str:
    """The time the ledger wrote into a statement anchor's entry; `EncodingError` for any other entry."""
    try:
        envelope = parse_envelope(entry)
    except EventError as exc:
        raise EncodingError(f"not a ledger entry: {exc}") from exc
    if (envelope["type"], envelope["actor"]) != (ANCHOR_EVENT, ANCHOR_ACTOR):
        raise EncodingError(f"entry {ledger_index} is not a statement anchor")
    return str(envelope["time"])
