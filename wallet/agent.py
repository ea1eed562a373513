"""The wallet at work: each question addressed to the customer is answered, declined or put to the person,
and an answer is proven here, from the opening the source delivered; the value never leaves the device.

For each question: a standing rule that declines it wins; without a current statement for the attribute
and subject the wallet declines with `no_statement`; a rule that answers it is obeyed; otherwise the person
is asked (`ask` returns True to answer, False to decline, None to leave the question pending, for instance
when nobody is at the terminal). A question left pending is not asked again in this session: the gateway
tells the recipient the customer is unavailable when it expires.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import httpx

from wallet.client import GatewayClient, WalletProtocolError
from wallet.protocol import DeclineReason, PendingQuestion
from wallet.rules import Action
from wallet.store import WalletStore
from zkp import HeldStatement, ProofRefused, ProvenAnswer, Question, answer_question, format_utc

Ask = Callable[[PendingQuestion], bool | None]
RETRY_CAP_SECONDS = 30.0


class Result(StrEnum):
    ANSWERED = "answered"
    DECLINED = "declined"
    DEFERRED = "deferred"
    CLOSED = "closed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    """What the wallet did with one question (never the value)."""

    question_id: str
    result: Result
    holds: bool | None = None
    reason: DeclineReason | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Wallet:
    def __init__(self, store: WalletStore, *, ask: Ask | None = None, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.ask = ask
        self.clock = clock

    def statement_for(self, question: Question) -> HeldStatement | None:
        """The latest held statement for the question's attribute and subject that is current now."""
        now = self.clock()
        current = [
            held
            for held in self.store.statements()
            if held.statement.attribute.name == question.template.attribute
            and held.subject == question.subject
            and held.statement.current_at(now)
        ]
        return max(current, key=lambda held: held.statement.seq, default=None)

    def decide(self, pending: PendingQuestion) -> tuple[Outcome, ProvenAnswer | None]:
        """What to send for one question: an answer, a decline, or nothing yet."""
        question = pending.question
        action = self.store.rules().decide(pending.recipient.id, question.template.id)
        if action is Action.DECLINE:
            return Outcome(pending.id, Result.DECLINED, reason=DeclineReason.BY_RULE), None
        held = self.statement_for(question)
        if held is None:
            return Outcome(pending.id, Result.DECLINED, reason=DeclineReason.NO_STATEMENT), None
        if action is Action.ASK:
            verdict = self.ask(pending) if self.ask is not None else None
            if verdict is None:
                return Outcome(pending.id, Result.DEFERRED), None
            if not verdict:
                return Outcome(pending.id, Result.DECLINED, reason=DeclineReason.BY_CUSTOMER), None
        try:
            answer = answer_question(held, question)
        except ProofRefused:
            return Outcome(pending.id, Result.DECLINED, reason=DeclineReason.NO_STATEMENT), None
        return Outcome(pending.id, Result.ANSWERED, holds=answer.holds), answer

    def handle(self, client: GatewayClient, pending: PendingQuestion) -> Outcome:
        """Decide, send, and journal what was done."""
        outcome, answer = self.decide(pending)
        try:
            if answer is not None:
                client.answer(pending.id, answer)
            elif outcome.reason is not None:
                client.decline(pending.id, outcome.reason)
        except WalletProtocolError as exc:
            if exc.status in (404, 409, 410):  # answered elsewhere, expired or withdrawn meanwhile
                outcome = Outcome(pending.id, Result.CLOSED)
            elif exc.status in (400, 422):  # the gateway refused this reply; the next questions still count
                outcome = Outcome(pending.id, Result.REJECTED)
            else:
                raise
        self.store.record(
            {
                "at": format_utc(self.clock()),
                "question": pending.id,
                "recipient": pending.recipient.id,
                "template": pending.question.template.id,
                "purpose": pending.question.purpose,
                "result": outcome.result.value,
                "holds": outcome.holds,
                "reason": None if outcome.reason is None else outcome.reason.value,
            }
        )
        return outcome

    def serve_once(self, client: GatewayClient, cursor: str | None, wait: int) -> tuple[list[Outcome], str | None]:
        """One long poll and the handling of what it brought; returns the outcomes and the next cursor."""
        batch = client.poll(cursor, wait)
        return [self.handle(client, pending) for pending in batch.questions], batch.cursor or cursor

    def serve(
        self,
        client: GatewayClient,
        *,
        wait: int,
        stop: threading.Event,
        report: Callable[[Outcome], None] = lambda _: None,
        on_error: Callable[[Exception], None] = lambda _: None,
    ) -> None:
        """Poll until `stop` is set; a network failure or a server error waits (1 s doubling up to 30 s) and
        retries, so a gateway restart costs a delay, never a question."""
        cursor: str | None = None
        delay = 1.0
        while not stop.is_set():
            try:
                outcomes, cursor = self.serve_once(client, cursor, wait)
            except (httpx.HTTPError, WalletProtocolError) as exc:
                on_error(exc)
                stop.wait(delay)
                delay = min(delay * 2, RETRY_CAP_SECONDS)
                continue
            delay = 1.0
            for outcome in outcomes:
                report(outcome)
