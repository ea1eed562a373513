"""Offline verification of a zero-knowledge query response: what a CRM runs before trusting an answer.

Depends only on `zkp` and `ledger` (no web framework, no database), so a relying party can reuse it
alone. A response is valid when all of these hold:

1. the checkpoint is signed by the log key the verifier trusts (C2SP signed note);
2. the ledger entry (leaf bytes) is a `zk.commitment` envelope whose salted payload hash matches the
   disclosed payload, and its leaf hash is included at the stated index in that checkpoint's tree
   (RFC 9162 inclusion proof);
3. the anchored payload names the statement's attribute, schema (bit width) and commitment, the epoch
   the context names, and — through a salted hash — the subject the response is about;
4. the context's anchor names that ledger index and epoch, and (when the verifier says what it asked)
   the nonce, client id, purpose, attribute and predicate are the ones asked;
5. the proof establishes the predicate, or its negation when the answer is "no", for that context,
   which has not expired.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from ledger import (
    EventError,
    NoteError,
    ProofError,
    leaf_hash,
    parse_envelope,
    payload_hash,
    verify_checkpoint,
    verify_inclusion,
)
from zkp import Answer, Context, Predicate, ZkpError, verify_answer

COMMITMENT_EVENT = "zk.commitment"
QUERY_EVENT = "zk.query"


class ResponseVerificationError(ValueError):
    """The response does not prove what it claims; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class VerifiedAnswer:
    """What a valid response established."""

    subject: str
    attribute: str
    holds: bool
    predicate: Predicate
    ledger_index: int
    epoch: int
    checkpoint_size: int


def anchor_label(ledger_index: int, epoch: int) -> str:
    """The context's `anchor`: binds the proof to the ledger entry and epoch of the commitment."""
    return f"ledger:{ledger_index};epoch:{epoch}"


def subject_binding(salt: bytes, subject: str) -> str:
    """base64(SHA-256(salt || subject)): the anchor names its subject without the ledger holding the id."""
    return base64.b64encode(hashlib.sha256(salt + subject.encode("utf-8")).digest()).decode("ascii")


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ResponseVerificationError("malformed", f"{what} is not a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ResponseVerificationError("malformed", f"{what} is not valid base64") from exc


def _member(document: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ResponseVerificationError("malformed", f"{where}.{name} is missing or of the wrong type")
    return value


def verify_response(
    response: object,
    log_keys: Sequence[str],
    *,
    nonce: str | None = None,
    client_id: str | None = None,
    purpose: str | None = None,
    subject: str | None = None,
    attribute: str | None = None,
    predicate: Predicate | None = None,
    now: datetime | None = None,
) -> VerifiedAnswer:
    """Check a `POST /v1/zk/queries` response completely; raise `ResponseVerificationError` otherwise.

    `now` defaults to the current time (an expired context is refused); pass the values the verifier
    asked with to check the response answers that question and no other.
    """
    if not isinstance(response, Mapping):
        raise ResponseVerificationError("malformed", "the response is not a JSON object")
    anchor = _member(response, "anchor", Mapping, "response")
    try:
        answer = Answer.from_json(response.get("answer"))
        context = Context.from_json(response.get("context"))
    except ZkpError as exc:
        raise ResponseVerificationError("malformed", str(exc)) from exc
    statement = answer.statement
    index = _member(anchor, "ledger_index", int, "anchor")
    epoch = _member(anchor, "epoch", int, "anchor")

    checkpoint_doc = _member(anchor, "checkpoint", Mapping, "anchor")
    try:
        checkpoint = verify_checkpoint(_member(checkpoint_doc, "note", str, "anchor.checkpoint"), list(log_keys))
    except NoteError as exc:
        raise ResponseVerificationError(
            "checkpoint", f"the checkpoint does not verify with the log key: {exc}"
        ) from exc

    entry = _b64(anchor.get("entry"), "anchor.entry")
    try:
        envelope = parse_envelope(entry)
    except EventError as exc:
        raise ResponseVerificationError("anchor", f"the ledger entry is not an envelope: {exc}") from exc
    if envelope["type"] != COMMITMENT_EVENT:
        raise ResponseVerificationError("anchor", f"the ledger entry is a {envelope['type']!r}, not a commitment")
    payload = _member(anchor, "payload", Mapping, "anchor")
    salt = _b64(anchor.get("salt"), "anchor.salt")
    try:
        canonical = rfc8785.dumps(dict(payload))
    except Exception as exc:  # rfc8785 refuses non-JSON values with several exception types
        raise ResponseVerificationError("malformed", f"anchor.payload is not canonical JSON: {exc}") from exc
    expected_hash = envelope["payload_hash"]
    if not isinstance(expected_hash, str) or not hmac.compare_digest(payload_hash(salt, canonical), expected_hash):
        raise ResponseVerificationError("anchor", "the disclosed payload is not the one the ledger entry commits to")

    try:
        proof = [_b64(node, "anchor.inclusion_proof[]") for node in _member(anchor, "inclusion_proof", list, "anchor")]
        verify_inclusion(leaf_hash(entry), index, checkpoint.size, proof, checkpoint.root)
    except ProofError as exc:
        raise ResponseVerificationError(
            "inclusion", f"entry {index} is not in the signed tree of size {checkpoint.size}: {exc}"
        ) from exc

    named_subject = _member(response, "subject", str, "response")
    subject_salt = _b64(anchor.get("subject_salt"), "anchor.subject_salt")
    checks = (
        (payload.get("attribute") == statement.attribute.name, "the anchored attribute is not the statement's"),
        (payload.get("schema") == statement.attribute.to_json(), "the anchored schema is not the statement's"),
        (payload.get("commitment") == statement.commitment.to_json(), "the anchored commitment is not the proven one"),
        (payload.get("epoch") == epoch, "the anchored epoch is not the one the response names"),
        (
            payload.get("subject_binding") == subject_binding(subject_salt, named_subject),
            "the anchored commitment belongs to another subject",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise ResponseVerificationError("anchor", message)
    if not hmac.compare_digest(context.anchor, anchor_label(index, epoch)):
        raise ResponseVerificationError("context", "the proof's context names another ledger entry or epoch")

    asked = (
        ("nonce", nonce, context.nonce),
        ("client id", client_id, context.client_id),
        ("purpose", purpose, context.purpose),
        ("subject", subject, named_subject),
        ("attribute", attribute, statement.attribute.name),
        ("predicate", predicate, statement.predicate),
    )
    for name, wanted, got in asked:
        if wanted is not None and wanted != got:
            raise ResponseVerificationError("statement", f"the {name} is not the one asked")
    if response.get("holds") is not answer.holds:
        raise ResponseVerificationError("statement", "the response's answer differs from the proven answer")

    try:
        verify_answer(answer, context, now=now if now is not None else datetime.now(UTC))
    except ZkpError as exc:
        raise ResponseVerificationError("proof", str(exc)) from exc
    return VerifiedAnswer(
        subject=named_subject,
        attribute=statement.attribute.name,
        holds=answer.holds,
        predicate=statement.predicate,
        ledger_index=index,
        epoch=epoch,
        checkpoint_size=checkpoint.size,
    )
