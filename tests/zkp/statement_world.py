"""A source, a log and a clock for tests of source-signed statements, kept by the real rules in memory.

The log writes entries with `ledger.envelope.prepare` (the ledger's own envelope and payload salting),
builds RFC 9162 trees and proofs with `ledger.rfc9162`, signs C2SP checkpoints with the log key and
cosigns them with the clock's key at the instant a test names, so freshness can be tested at any time.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger import (
    Checkpoint,
    Event,
    cosign,
    generate_cosigner_key,
    generate_signer_key,
    inclusion_proof,
    parse_envelope,
    root_hash,
    sign_checkpoint,
)
from ledger.envelope import prepare
from zkp import (
    AttributeSchema,
    Evidence,
    HeldStatement,
    Operator,
    Predicate,
    ProvenAnswer,
    Question,
    QuestionTemplate,
    TrustAnchors,
    anchor_event,
    issue_statement,
    new_subject_salt,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
AGE = AttributeSchema.integer("age", 8)
INCOME = AttributeSchema.integer("annual_income_cents", 48)
CITY = AttributeSchema.categorical("city")
FAULT_CODES = AttributeSchema.categorical_set("fault_code", 8)
ADULT = QuestionTemplate("adult", "age", Predicate(Operator.GE, (18,)))
INCOME_BAND = QuestionTemplate(
    "income-band", "annual_income_cents", Predicate(Operator.WITHIN, (30_000_000, 100_000_000))
)
CATALYST = QuestionTemplate("catalyst-or-misfire", "fault_code", Predicate(Operator.IN, ("P0420", "P0300")))


@dataclass
class MemoryLog:
    origin: str = "consentry.test/ledger"
    leaves: list[bytes] = field(default_factory=list)
    salts: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signer, self.verifier = generate_signer_key(self.origin)
        self.clock_signer, self.clock = generate_cosigner_key("consentry.test/clock")

    def append(self, event: Event, at: datetime) -> int:
        prepared = prepare(dataclasses.replace(event, time=at))
        self.leaves.append(prepared.data)
        index = len(self.leaves) - 1
        if prepared.salt is not None:
            self.salts[index] = prepared.salt
        return index

    def checkpoint(self, at: datetime, *, cosigned: bool = True) -> str:
        note = sign_checkpoint(Checkpoint(self.origin, len(self.leaves), root_hash(self.leaves)), self.signer)
        return cosign(note, self.clock_signer, int(at.timestamp())) if cosigned else note

    def evidence(self, index: int, at: datetime, *, cosigned: bool = True) -> Evidence:
        """Built field by field (not `Evidence.from_ledger`), so tests can show the verifier any entry."""
        proof = tuple(inclusion_proof(self.leaves, index, len(self.leaves)))
        time = parse_envelope(self.leaves[index])["time"]
        return Evidence(index, time, self.salts[index], proof, self.checkpoint(at, cosigned=cosigned))


@dataclass
class World:
    source: str = "vehicle-cloud.test"
    log: MemoryLog = field(default_factory=MemoryLog)
    salts: dict[str, bytes] = field(default_factory=dict)
    anchors: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.source_signer, self.source_key = generate_signer_key(self.source)
        self.trust = TrustAnchors((self.log.verifier,), (self.log.clock,), (self.source_key,))

    def issue(
        self,
        attribute: AttributeSchema,
        subject: str,
        value: int | str | list[str],
        *,
        seq: int = 1,
        issued_at: datetime = T0,
        valid_until: datetime = T0 + DAY,
        previous: HeldStatement | None = None,
        signer: str | None = None,
    ) -> HeldStatement:
        """The source commits and signs; the gateway anchors the signed statement (a neutral entry)."""
        held = issue_statement(
            signer or self.source_signer,
            attribute=attribute,
            schema_version=1,
            subject=subject,
            subject_salt=self.salts.setdefault(subject, new_subject_salt()),
            value=value,
            seq=seq,
            issued_at=issued_at,
            valid_until=valid_until,
            previous=None if previous is None else previous.statement,
        )
        self.anchors[held.statement.digest()] = self.log.append(anchor_event(held.signed), issued_at)
        return held

    def question(
        self, template: QuestionTemplate, subject: str, *, asked_at: datetime = T0 + timedelta(hours=1)
    ) -> Question:
        return Question(
            template=template,
            subject=subject,
            audience="org:acme-finance",
            purpose="financial_product_recommendation",
            nonce=secrets.token_urlsafe(18),
            asked_at=asked_at,
            expires_at=asked_at + timedelta(minutes=5),
        )

    def document(self, answer: ProvenAnswer, *, at: datetime | None = None, cosigned: bool = True) -> dict[str, Any]:
        """What the gateway returns: the wallet's answer and the evidence of the statement's anchor."""
        index = self.anchors[answer.statement.statement.digest()]
        moment = at if at is not None else answer.question.asked_at + timedelta(seconds=2)
        return {"answer": answer.to_json(), "evidence": self.log.evidence(index, moment, cosigned=cosigned).to_json()}
