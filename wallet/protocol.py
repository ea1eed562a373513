"""The wallet ↔ gateway protocol, version 1: paths and message types (specified in docs/zk-wallet.md).

The wallet connects out (no inbound port on the customer's device): it signs in with DID Authentication,
then long-polls for the questions addressed to its customer and posts answers, declines and grants. Every
message is JSON; every error an RFC 9457 problem document. Source systems deliver statements over the same
sign-in at their own base URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zkp import EncodingError, HeldStatement, Question, ZkpError

PROTOCOL_VERSION = 1
CHALLENGE_PATH = "/v1/session/did/challenge"
SESSION_PATH = "/v1/session/did"
BINDING_CHALLENGE_PATH = "/v1/wallet/bindings/challenge"
BINDINGS_PATH = "/v1/wallet/bindings"
QUESTIONS_PATH = "/v1/me/wallet/questions"
GRANTS_PATH = "/v1/me/wallet/grants"
CUSTODY_PATH = "/v1/me/wallet/custody"
CUSTODY_STATEMENTS_PATH = "/v1/me/wallet/custody/statements"
STATEMENTS_PATH = "/v1/wallet/statements"
MAX_WAIT_SECONDS = 30
MAX_QUESTIONS_PER_POLL = 20
MAX_STATEMENTS_PER_DELIVERY = 100
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProtocolError(ValueError):
    """A message does not have the shape protocol version 1 specifies."""


def answer_path(question_id: str) -> str:
    return f"{QUESTIONS_PATH}/{question_id}/answer"


def decline_path(question_id: str) -> str:
    return f"{QUESTIONS_PATH}/{question_id}/decline"


class DeclineReason(StrEnum):
    """Why the wallet gives no answer; the recipient learns this and nothing else."""

    BY_CUSTOMER = "declined_by_customer"
    BY_RULE = "declined_by_rule"
    NO_STATEMENT = "no_statement"


@dataclass(frozen=True)
class Recipient:
    """Who asks: the organization (the question's audience) and the name the customer is shown."""

    id: str
    name: str


@dataclass(frozen=True)
class PendingQuestion:
    """A question addressed to this wallet's customer, as the gateway delivers it."""

    id: str
    question: Question
    recipient: Recipient

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ProtocolError("a question id is 1 to 64 letters, digits, '-' or '_'")
        if self.recipient.id != self.question.audience:
            raise ProtocolError("the recipient is not the question's audience")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question.to_json(),
            "recipient": {"id": self.recipient.id, "name": self.recipient.name},
        }

    @classmethod
    def from_json(cls, data: object) -> PendingQuestion:
        if not isinstance(data, Mapping) or set(data) != {"id", "question", "recipient"}:
            raise ProtocolError("a pending question is an object with exactly id, question and recipient")
        recipient = data["recipient"]
        if not isinstance(recipient, Mapping) or set(recipient) != {"id", "name"}:
            raise ProtocolError("a recipient is an object with exactly id and name")
        if not all(isinstance(recipient[k], str) for k in ("id", "name")) or not isinstance(data["id"], str):
            raise ProtocolError("ids and names are strings")
        try:
            question = Question.from_json(data["question"])
        except ZkpError as exc:
            raise ProtocolError(f"the question is malformed: {exc}") from exc
        return cls(data["id"], question, Recipient(recipient["id"], recipient["name"]))


@dataclass(frozen=True)
class QuestionBatch:
    """One long-poll's result: the questions created after the cursor sent, and the cursor to send next."""

    questions: tuple[PendingQuestion, ...]
    cursor: str | None

    @classmethod
    def from_json(cls, data: object) -> QuestionBatch:
        if not isinstance(data, Mapping) or set(data) != {"questions", "cursor"}:
            raise ProtocolError("a poll result is an object with exactly questions and cursor")
        questions, cursor = data["questions"], data["cursor"]
        if not isinstance(questions, list) or len(questions) > MAX_QUESTIONS_PER_POLL:
            raise ProtocolError(f"questions is a list of at most {MAX_QUESTIONS_PER_POLL}")
        if cursor is not None and not (isinstance(cursor, str) and _ID.fullmatch(cursor)):
            raise ProtocolError("the cursor is null or an opaque token of 1 to 64 URL-safe characters")
        return cls(tuple(PendingQuestion.from_json(q) for q in questions), cursor)

    def to_json(self) -> dict[str, Any]:
        return {"questions": [q.to_json() for q in self.questions], "cursor": self.cursor}


def statements_from_json(data: object) -> list[HeldStatement]:
    """A source's delivery, `{"statements": [HeldStatement, ...]}`; each statement's subject binding and
    opening are checked here, its signature by the caller against the source keys it pins."""
    if not isinstance(data, Mapping) or set(data) != {"statements"} or not isinstance(data["statements"], list):
        raise ProtocolError("a delivery is an object with exactly a list of statements")
    if len(data["statements"]) > MAX_STATEMENTS_PER_DELIVERY:
        raise ProtocolError(f"a delivery holds at most {MAX_STATEMENTS_PER_DELIVERY} statements")
    try:
        return [HeldStatement.from_json(item) for item in data["statements"]]
    except EncodingError as exc:
        raise ProtocolError(f"a delivered statement is malformed: {exc}") from exc
