"""Custodial answering, only by the customer's choice: the gateway answers for them.

Off by default: the customer's own wallet answers. Switched on (by the customer, in the portal or from the
wallet), the gateway keeps the statements the customer's wallet handed over, openings sealed under the
gateway's opening key and bound to their row, and the standing rules that came with them; each question for
the customer is then answered at once by those rules (`wallet.StandingRules`: a listed recipient × template is
answered or declined; anything else waits for the wallet or the portal), proven with the same
`zkp.answer_question` the wallet uses and relayed through the same verification and ledger entry. Switching
off deletes every sealed opening; both switches are ledger entries the customer sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.auth.principals import CustomerPrincipal
from gateway.store.zk_relay_tables import zk_custody, zk_custody_statements
from gateway.web.problems import Problem
from gateway.zk import relay as relaying
from gateway.zk.relay import Relay
from ledger import Event, LedgerError
from wallet.protocol import DeclineReason
from wallet.rules import Action, StandingRules
from zkp import HeldStatement, ProofRefused, Question, VerificationError, ZkpError, answer_question, parse_source_keys

CUSTODY_EVENT = "zk.custody"
log = structlog.get_logger("gateway.zk.custody")
MAX_HANDED_OVER = 100


@dataclass(frozen=True)
class Custody:
    enabled: bool
    statements: int
    rules: StandingRules

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "custodial" if self.enabled else "wallet",
            "statements": self.statements,
            "rules": self.rules.to_json()["rules"],
        }


def _binding(customer_id: str, digest: str) -> bytes:
    return b"consentry/zk/custody\x00" + customer_id.encode() + b"\x00" + digest.encode()


def state(engine: Engine, customer_id: str) -> Custody:
    with engine.connect() as conn:
        row = conn.execute(select(zk_custody).where(zk_custody.c.customer_id == customer_id)).mappings().first()
        count = len(
            conn.execute(
                select(zk_custody_statements.c.digest).where(zk_custody_statements.c.customer_id == customer_id)
            ).all()
        )
    if row is None:
        return Custody(False, 0, StandingRules(()))
    return Custody(bool(row["enabled"]), count, StandingRules.from_json(json.loads(row["rules"])))


def switch(relay: Relay, customer: CustomerPrincipal, enabled: bool) -> Custody:
    """Turn custodial answering on or off (off deletes every sealed statement), as one ledger entry."""
    now = datetime.now(UTC)

    def apply(conn: Connection, _index: int) -> None:
        exists = conn.execute(
            select(zk_custody.c.customer_id).where(zk_custody.c.customer_id == customer.customer_id)
        ).first()
        if exists is None:
            conn.execute(
                insert(zk_custody).values(
                    customer_id=customer.customer_id,
                    enabled=enabled,
                    rules=json.dumps(StandingRules(()).to_json()),
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                update(zk_custody)
                .where(zk_custody.c.customer_id == customer.customer_id)
                .values(enabled=enabled, updated_at=now)
            )
        if not enabled:
            conn.execute(
                delete(zk_custody_statements).where(zk_custody_statements.c.customer_id == customer.customer_id)
            )

    event = Event(
        type=CUSTODY_EVENT,
        actor=customer.actor,
        subject=relay.queries.pseudonyms(customer.customer_id),
        payload={"mode": "custodial" if enabled else "wallet"},
    )
    try:
        relay.queries.ledger.append(event, effects=apply)
    except (SQLAlchemyError, LedgerError) as exc:
        raise Problem(503, "ledger-unavailable", "The ledger cannot record this now; nothing changed.") from exc
    return state(relay.engine, customer.customer_id)


def hand_over(relay: Relay, customer: CustomerPrincipal, statements: list[Any], rules: Mapping[str, Any]) -> Custody:
    """Keep the statements (openings sealed) and the rules the customer's wallet handed over."""
    if not state(relay.engine, customer.customer_id).enabled:
        raise Problem(409, "custody-off", "Switch custodial answering on first; your wallet answers for you now.")
    if len(statements) > MAX_HANDED_OVER:
        raise Problem(422, "validation", f"Hand over at most {MAX_HANDED_OVER} statements at once.")
    try:
        standing = StandingRules.from_json(rules)
        held = [HeldStatement.from_json(item) for item in statements]
    except (ValueError, ZkpError) as exc:
        raise Problem(422, "validation", f"Not statements and rules a wallet holds: {exc}") from exc
    keys = parse_source_keys(relay.queries.zk.source_keys)
    for item in held:
        try:
            item.signed.check_signature(keys)
        except VerificationError as exc:
            raise Problem(422, "unknown-source", str(exc)) from exc
        if item.subject != customer.source_subject:
            raise Problem(422, "validation", "A statement is about someone else.")
    sealer = relay.queries.zk.anchorer.sealer
    with relay.engine.begin() as conn:
        for item in held:
            digest = item.statement.digest().hex()
            sealed = sealer.seal_bytes(json.dumps(item.to_json()).encode(), _binding(customer.customer_id, digest))
            conn.execute(
                delete(zk_custody_statements).where(
                    zk_custody_statements.c.customer_id == customer.customer_id,
                    zk_custody_statements.c.digest == digest,
                )
            )
            conn.execute(
                insert(zk_custody_statements).values(
                    customer_id=customer.customer_id,
                    digest=digest,
                    sealed=sealed,
                    valid_until=item.statement.valid_until,
                )
            )
        conn.execute(
            update(zk_custody)
            .where(zk_custody.c.customer_id == customer.customer_id)
            .values(rules=json.dumps(standing.to_json()), updated_at=datetime.now(UTC))
        )
    return state(relay.engine, customer.customer_id)


def _held(relay: Relay, customer_id: str, now: datetime) -> list[HeldStatement]:
    t = zk_custody_statements
    with relay.engine.connect() as conn:
        rows = conn.execute(select(t.c.digest, t.c.sealed).where(t.c.customer_id == customer_id)).all()
    sealer = relay.queries.zk.anchorer.sealer
    held = [
        HeldStatement.from_json(json.loads(sealer.open_bytes(row.sealed, _binding(customer_id, row.digest))))
        for row in rows
    ]
    return [h for h in held if h.statement.current_at(now)]


def answer_for(relay: Relay, customer: CustomerPrincipal, question_id: str) -> None:
    """With custody on, answer or decline the question by the handed-over rules; otherwise leave it pending.
    A reply the relay refuses (the question closed meanwhile, the ledger down) leaves it to the wallet."""
    try:
        _answer_for(relay, customer, question_id)
    except Problem as problem:
        log.warning("custodial answer not relayed", question_id=question_id, problem=problem.kind)


def answer_once(relay: Relay, customer: CustomerPrincipal, question_id: str) -> None:
    """The customer approved this one question (in the portal): answer it from the statements held for them."""
    if not state(relay.engine, customer.customer_id).enabled:
        raise Problem(409, "custody-off", "Only your wallet can answer: the gateway holds no statement of yours.")
    _answer_for(relay, customer, question_id, approved=True)


def _answer_for(relay: Relay, customer: CustomerPrincipal, question_id: str, *, approved: bool = False) -> None:
    custody = state(relay.engine, customer.customer_id)
    if not custody.enabled:
        return
    row = relaying.load_question(relay.engine, question_id)
    if row is None or row["customer_id"] != customer.customer_id:
        return
    question = Question.from_json(json.loads(row["question"]))
    action = Action.ANSWER if approved else custody.rules.decide(question.audience, question.template.id)
    if action is Action.ASK:
        return  # the customer decides, in the wallet or the portal
    if action is Action.DECLINE:
        relaying.decline(relay, customer, question_id, DeclineReason.BY_RULE)
        return
    now = datetime.now(UTC)
    current = [
        h
        for h in _held(relay, customer.customer_id, now)
        if h.statement.attribute.name == question.template.attribute and h.subject == question.subject
    ]
    held = max(current, key=lambda h: h.statement.seq, default=None)
    if held is None:
        relaying.decline(relay, customer, question_id, DeclineReason.NO_STATEMENT)
        return
    try:
        proven = answer_question(held, question)
    except ProofRefused:
        relaying.decline(relay, customer, question_id, DeclineReason.NO_STATEMENT)
        return
    relaying.answer(relay, customer, question_id, proven.to_json())
