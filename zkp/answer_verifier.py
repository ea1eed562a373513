"""The verifier of a whole answer: what a CRM, an auditor or `consentry zk verify` runs, with public keys only.

Pure (no I/O, no database, no web framework). An answer document is `{"answer": ProvenAnswer, "evidence":
Evidence}`; it is accepted only when every one of these holds, checked in this order:

1. question    — it answers exactly the question the verifier asked (template, subject, audience, purpose,
                 nonce, instants), and the template applies to the statement's attribute;
2. source      — a pinned source key signed the statement;
3. binding     — the disclosed 16-byte salt and the asked subject give the statement's subject binding;
4. checkpoint  — a pinned log key signed the checkpoint, and a pinned time key cosigned it (C2SP
                 tlog-cosignature): its time T is the latest such cosignature's;
5. inclusion   — the anchor entry rebuilt from the statement (neutral actor, binding as subject, payload
                 hash over the salt and the signed statement) is included in that checkpoint (RFC 9162);
   superseded  — when the evidence carries a successor (a later statement of the series, signed by a pinned
                 source key and included in the same checkpoint) that is current at T, the answer is over a
                 superseded statement, and the reason names the successor's sequence number and ledger entry;
6. freshness   — the statement is current at T (issued_at ≤ T < valid_until: not expired, and, since a
                 source's windows never overlap, not superseded), T lies between the question's asking
                 (less `max_checkpoint_age`) and its expiry, and, with `now`, the question has not expired
                 and T is not in the future;
7. proof       — the proof establishes the template's predicate (a "yes") or its negation (a "no").

The result names the source, the statement's issued-at, valid-until, sequence number and schema version.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ledger import (
    NoteError,
    ProofError,
    VerifierKey,
    leaf_hash,
    parse_cosigner_verifier_key,
    parse_verifier_key,
    verify_checkpoint,
    verify_cosignatures,
    verify_inclusion,
)
from zkp.binding import subject_binding
from zkp.errors import VerificationError, ZkpError
from zkp.evidence import Evidence, Successor, anchor_entry
from zkp.proven_answer import ProvenAnswer, check_answer_proof
from zkp.question import Question, QuestionTemplate
from zkp.source_statement import SignedStatement, SourceStatement, overlapping, parse_source_keys
from zkp.times import format_utc

DEFAULT_MAX_CHECKPOINT_AGE = timedelta(minutes=5)
DEFAULT_CLOCK_SKEW = timedelta(seconds=30)


class AnswerRejected(VerificationError):
    """The answer does not prove what it claims; `reason` is a stable code, the message says why.

    Reasons: malformed, question, source, binding, checkpoint, checkpoint-time, inclusion, superseded, stale,
    expired, proof.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class TrustAnchors:
    """The public keys a verifier pins: the log's (checkpoint signatures), the clocks' (C2SP cosignatures
    that give a checkpoint its time) and the source systems' (statement signatures). Parsed once, here, so a
    malformed key is a configuration error (`ZkpError`/`NoteError`) rather than a rejected answer."""

    log_keys: tuple[str, ...]
    time_keys: tuple[str, ...]
    source_keys: tuple[str, ...]
    _sources: Mapping[tuple[str, int], VerifierKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("log_keys", "time_keys", "source_keys"):
            value = getattr(self, name)
            if isinstance(value, str) or not value:
                raise TypeError(f"{name} is a non-empty sequence of key strings")
            object.__setattr__(self, name, tuple(value))
        for key in self.log_keys:
            parse_verifier_key(key)
        for key in self.time_keys:
            parse_cosigner_verifier_key(key)
        object.__setattr__(self, "_sources", parse_source_keys(self.source_keys))

    @property
    def sources(self) -> Mapping[tuple[str, int], VerifierKey]:
        return self._sources


@dataclass(frozen=True)
class VerifiedAnswer:
    """What a valid answer established, about which source-signed statement, as of which checkpoint."""

    template: QuestionTemplate
    subject: str
    holds: bool
    statement: SourceStatement
    checkpoint_time: datetime
    checkpoint_size: int
    ledger_index: int

    @property
    def source(self) -> str:
        return self.statement.source

    @property
    def schema_version(self) -> int:
        return self.statement.schema_version

    @property
    def issued_at(self) -> datetime:
        return self.statement.issued_at

    @property
    def valid_until(self) -> datetime:
        return self.statement.valid_until

    def to_json(self) -> dict[str, object]:
        return {
            "template": self.template.to_json(),
            "subject": self.subject,
            "holds": self.holds,
            "source": self.source,
            "attribute": self.statement.attribute.name,
            "schema_version": self.schema_version,
            "seq": self.statement.seq,
            "issued_at": format_utc(self.issued_at),
            "valid_until": format_utc(self.valid_until),
            "checkpoint_time": format_utc(self.checkpoint_time),
            "checkpoint_size": self.checkpoint_size,
            "ledger_index": self.ledger_index,
        }


def _parse(document: object) -> tuple[ProvenAnswer, Evidence]:
    if not isinstance(document, Mapping) or set(document) != {"answer", "evidence"}:
        raise AnswerRejected("malformed", "an answer document is an object with exactly answer and evidence")
    try:
        return ProvenAnswer.from_json(document["answer"]), Evidence.from_json(document["evidence"])
    except ZkpError as exc:
        raise AnswerRejected("malformed", str(exc)) from exc


def _check_question(answer: ProvenAnswer, asked: Question) -> None:
    if answer.question != asked:
        differing = [
            name
            for name in ("template", "subject", "audience", "purpose", "nonce", "asked_at", "expires_at")
            if getattr(answer.question, name) != getattr(asked, name)
        ]
        raise AnswerRejected("question", f"the answer is to another question (its {', '.join(differing)} differ)")
    try:
        asked.template.check(answer.statement.statement.attribute)
    except ZkpError as exc:
        raise AnswerRejected("question", f"the statement cannot answer this template: {exc}") from exc


def _checkpoint(evidence: Evidence, trust: TrustAnchors) -> tuple[int, bytes, datetime]:
    try:
        checkpoint = verify_checkpoint(evidence.checkpoint, trust.log_keys)
    except NoteError as exc:
        raise AnswerRejected("checkpoint", f"the checkpoint does not verify with a pinned log key: {exc}") from exc
    try:
        cosignatures = verify_cosignatures(evidence.checkpoint, trust.time_keys)
    except NoteError as exc:
        raise AnswerRejected("checkpoint-time", f"the checkpoint's time cosignature does not verify: {exc}") from exc
    if not cosignatures:
        raise AnswerRejected("checkpoint-time", "no pinned time key cosigned the checkpoint, so it has no trusted time")
    moment = datetime.fromtimestamp(max(c.timestamp for c in cosignatures), UTC)
    return checkpoint.size, checkpoint.root, moment


def _check_successor(
    signed: SignedStatement, successor: Successor, trust: TrustAnchors, size: int, root: bytes, moment: datetime
) -> None:
    """Reject the answer when the evidence shows, with public material, a successor current at `moment`."""
    statement, later = signed.statement, successor.signed.statement
    if later.series() != statement.series() or later.seq <= statement.seq:
        raise AnswerRejected("malformed", "the evidence's successor is not a later statement of the answered series")
    try:
        successor.signed.check_signature(trust.sources)
    except VerificationError as exc:
        raise AnswerRejected("source", f"the evidence's successor: {exc}") from exc
    if overlapping(statement, later):
        raise AnswerRejected(
            "source",
            f"the source {statement.source} signed seq {statement.seq} and seq {later.seq} with overlapping windows",
        )
    entry = anchor_entry(successor.signed, successor.entry_time, successor.payload_salt)
    try:
        verify_inclusion(leaf_hash(entry), successor.ledger_index, size, list(successor.inclusion_proof), root)
    except ProofError as exc:
        raise AnswerRejected(
            "inclusion", f"the successor's anchor is not entry {successor.ledger_index} of the signed tree: {exc}"
        ) from exc
    if moment >= later.issued_at:
        raise AnswerRejected(
            "superseded",
            f"the statement (seq {statement.seq}) was superseded by seq {later.seq}, anchored at ledger index "
            f"{successor.ledger_index} and current from {format_utc(later.issued_at)}, before the checkpoint's "
            f"time {format_utc(moment)}",
        )


def _check_freshness(
    statement: SourceStatement,
    question: Question,
    moment: datetime,
    now: datetime | None,
    max_checkpoint_age: timedelta,
    skew: timedelta,
) -> None:
    at = format_utc(moment)
    if moment >= statement.valid_until:
        raise AnswerRejected(
            "stale",
            f"the statement expired or was superseded at {format_utc(statement.valid_until)}, before the "
            f"checkpoint's time {at}",
        )
    if moment < statement.issued_at:
        raise AnswerRejected("stale", f"the statement is valid only from {format_utc(statement.issued_at)}, after {at}")
    if moment > question.expires_at:
        raise AnswerRejected("stale", f"the checkpoint's time {at} is after the question expired")
    if moment < question.asked_at - max_checkpoint_age:
        raise AnswerRejected("stale", f"the checkpoint's time {at} is older than the question allows")
    if now is not None:
        if now >= question.expires_at:
            raise AnswerRejected("expired", f"the question expired at {format_utc(question.expires_at)}")
        if moment > now + skew:
            raise AnswerRejected("checkpoint-time", f"the checkpoint's time {at} is in the future")


def verify_full_answer(
    document: object,
    trust: TrustAnchors,
    *,
    question: Question,
    now: datetime | None = None,
    max_checkpoint_age: timedelta = DEFAULT_MAX_CHECKPOINT_AGE,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> VerifiedAnswer:
    """Check an answer document completely (see the module docstring); raise `AnswerRejected` otherwise.

    `question` is the question the verifier asked. Pass `now` when verifying live (the question must not
    have expired); leave it out to check a stored answer as of its checkpoint's time."""
    answer, evidence = _parse(document)
    signed = answer.statement
    statement = signed.statement
    _check_question(answer, question)
    try:
        signed.check_signature(trust.sources)
    except VerificationError as exc:
        raise AnswerRejected("source", str(exc)) from exc
    try:
        binding = subject_binding(answer.subject_salt, question.subject)
    except ZkpError as exc:
        raise AnswerRejected("binding", str(exc)) from exc
    if not hmac.compare_digest(binding, statement.subject_binding):
        raise AnswerRejected("binding", "the statement is about another subject than the one asked")

    size, root, moment = _checkpoint(evidence, trust)
    entry = anchor_entry(signed, evidence.entry_time, evidence.payload_salt)
    try:
        verify_inclusion(leaf_hash(entry), evidence.ledger_index, size, list(evidence.inclusion_proof), root)
    except ProofError as exc:
        raise AnswerRejected(
            "inclusion", f"the statement's anchor is not entry {evidence.ledger_index} of the signed tree: {exc}"
        ) from exc
    if evidence.successor is not None:
        _check_successor(signed, evidence.successor, trust, size, root, moment)
    _check_freshness(statement, question, moment, now, max_checkpoint_age, clock_skew)

    try:
        check_answer_proof(answer)
    except ZkpError as exc:
        raise AnswerRejected("proof", str(exc)) from exc
    return VerifiedAnswer(
        question.template, question.subject, answer.holds, statement, moment, size, evidence.ledger_index
    )


def contradiction(first: VerifiedAnswer, second: VerifiedAnswer) -> str | None:
    """Why two verified answers cannot both be true, or None when they can.

    Answers from one statement never contradict (the proofs are sound); answers from successive statements
    of a series may differ, since the value may have changed. Two statements of one series that are current
    at once (overlapping windows, or one sequence number) are the source's signed equivocation."""
    if not overlapping(first.statement, second.statement):
        return None
    return (
        f"the source {first.source} signed two statements for one subject and attribute that are current at "
        f"once (seq {first.statement.seq} and {second.statement.seq})"
    )
