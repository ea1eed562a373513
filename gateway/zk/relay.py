"""Questions the customer's wallet answers: anchoring source-signed statements, relaying questions to the
wallet, verifying its proof before relaying it, and the budget that keeps answers from becoming an oracle.

The gateway never holds a value or an opening here. A source system signs a statement (a commitment to a
subject's attribute) and the gateway anchors it in the ledger under a neutral actor. A CRM sends a whole
question built on a declared template; the gateway checks the template, the audience, the instants, the policy
and the budget, then holds the question for the customer's wallet, which connects out, long-polls, proves
locally and posts its answer. The gateway attaches the ledger evidence (inclusion in a checkpoint it cosigns
with its clock), checks the whole answer with the public verifier, records question and answer in the ledger
in the same transaction as the question's closing, and hands the CRM the answer it can verify itself. When the
wallet does not answer in time the CRM is told the customer is unavailable; nothing is ever made up.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from gateway.audit.refusals import purpose_not_allowed, purpose_refusal
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.auth.rate_limits import enforce
from gateway.store.zk_relay_tables import zk_question_budget, zk_questions, zk_statements
from gateway.web.problems import Problem
from gateway.zk.attributes import UnknownAttributeError
from gateway.zk.queries import PolicyRefused, ZkQueries, covering_checkpoint, decide, subject_customer
from gateway.zk.response import QUERY_EVENT
from gateway.zk.templates import TemplateBook
from ledger import Event, LedgerError, cosign
from ledger.b64 import b64encode
from policies import StateUnavailableError, UnknownNameError
from wallet.protocol import (
    MAX_QUESTIONS_PER_POLL,
    MAX_WAIT_SECONDS,
    DeclineReason,
    PendingQuestion,
    QuestionBatch,
    Recipient,
)
from zkp import (
    AnswerRejected,
    Evidence,
    ProvenAnswer,
    Question,
    SchemaError,
    SignedStatement,
    SourceStatement,
    Successor,
    TrustAnchors,
    VerificationError,
    ZkpError,
    anchor_event,
    anchor_time,
    check_succession,
    format_utc,
    parse_source_keys,
    subject_binding,
    verify_full_answer,
)
from zkp.encoding import b64url_decode

PENDING, ANSWERED, DECLINED = "pending", "answered", "declined"
DB_RECHECK_SECONDS = 0.5  # how often a waiter re-reads the database for what another worker did
MAX_POLLS_PER_CUSTOMER = 4  # long polls held at once for one customer, per worker: each holds a connection


@dataclass(frozen=True)
class Relay:
    """What relaying works with: the zero-knowledge query collaborators (service, customers, policies, ledger,
    checkpoints, pseudonyms) and the gateway's log verifier keys for the trust anchors."""

    queries: ZkQueries

    @property
    def engine(self) -> Engine:
        return self.queries.ledger.engine

    def trust(self) -> TrustAnchors:
        zk = self.queries.zk
        if not zk.source_keys:
            raise Problem(503, "no-source-keys", "No source system's statement key is configured.")
        return TrustAnchors(tuple(self.queries.checkpoints.verifier_keys), (zk.clock_verifier_key,), zk.source_keys)

    def public_keys(self) -> dict[str, Any]:
        zk = self.queries.zk
        return {
            "log_origin": self.queries.checkpoints.origin,
            "log_keys": list(self.queries.checkpoints.verifier_keys),
            "time_keys": [zk.clock_verifier_key],
            "source_keys": list(zk.source_keys),
        }


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ledger_unavailable() -> Problem:
    return Problem(503, "ledger-unavailable", "The ledger cannot record this now, so nothing is answered.")


# -- anchoring source-signed statements ---------------------------------------------------------------------


def anchor_statement(relay: Relay, signed_json: object, subject: str, subject_salt: str) -> tuple[dict[str, Any], bool]:
    """Anchor a statement a pinned source signed about `subject` (its id in the source systems); returns the
    anchor and whether it is new. The salt proves the binding names that subject; it is not kept."""
    zk = relay.queries.zk
    try:
        signed = SignedStatement.from_json(signed_json)
        salt = b64url_decode(subject_salt)
        binding = subject_binding(salt, subject)
    except ZkpError as exc:
        raise Problem(422, "invalid-statement", str(exc)) from exc
    try:
        signed.check_signature(parse_source_keys(zk.source_keys))
    except VerificationError as exc:
        raise Problem(403, "unknown-source", f"The statement is not signed by a registered source: {exc}") from exc
    statement = signed.statement
    if binding != statement.subject_binding:
        raise Problem(422, "binding-mismatch", "The statement's subject binding is not this subject's.")
    try:
        zk.registry.get(statement.attribute.name)
    except UnknownAttributeError as exc:
        raise Problem(422, "unknown-attribute", str(exc)) from exc
    digest = statement.digest().hex()
    t = zk_statements
    with relay.engine.connect() as conn:
        existing = conn.execute(select(t.c.ledger_index).where(t.c.digest == digest)).scalar_one_or_none()
        previous = conn.execute(
            select(t.c.statement)
            .where(t.c.source == statement.source, t.c.subject == subject, t.c.attribute == statement.attribute.name)
            .order_by(t.c.seq.desc())
            .limit(1)
        ).scalar_one_or_none()
    if existing is not None:
        return {"digest": digest, "ledger_index": int(existing)}, False
    if previous is not None:
        try:
            check_succession(SignedStatement.from_json(json.loads(previous)).statement, statement)
        except SchemaError as exc:
            raise Problem(409, "succession", f"The statement may not follow the series' latest: {exc}") from exc

    def keep(conn: Connection, index: int) -> None:
        conn.execute(
            insert(t).values(
                digest=digest,
                source=statement.source,
                subject=subject,
                attribute=statement.attribute.name,
                seq=statement.seq,
                issued_at=statement.issued_at,
                valid_until=statement.valid_until,
                ledger_index=index,
                statement=json.dumps(signed.to_json()),
                created_at=datetime.now(UTC),
            )
        )

    try:
        index = relay.queries.ledger.append(anchor_event(signed), effects=keep)
    except IntegrityError as exc:
        raise Problem(409, "succession", "Another statement of this series with that sequence number exists.") from exc
    except (SQLAlchemyError, LedgerError) as exc:
        raise _ledger_unavailable() from exc
    return {"digest": digest, "ledger_index": index}, True


def current_statement(engine: Engine, subject: str, attribute: str, at: datetime) -> SourceStatement | None:
    """The anchored statement about the subject's attribute that is current at `at` (the latest by seq)."""
    t = zk_statements
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.statement, t.c.issued_at, t.c.valid_until)
            .where(t.c.subject == subject, t.c.attribute == attribute, t.c.valid_until > at)
            .order_by(t.c.seq.desc())
        ).all()
    for row in rows:
        if _aware(row.issued_at) <= at:
            return SignedStatement.from_json(json.loads(row.statement)).statement
    return None


# -- the recipient's side: asking ----------------------------------------------------------------------------


def _question_event(
    client_id: str, organization: str, pseudonym: str, category: str, question: Question, **outcome: Any
) -> Event:
    """The ledger entry of a question, answered, declined or refused: who asked which template about whom, why.
    Its actor is the recipient's client (as for a proxied read), its subject the customer's pseudonym."""
    return Event(
        type=QUERY_EVENT,
        actor=f"client:{client_id}",
        subject=pseudonym,
        payload={
            "recipient": organization,
            "client_id": client_id,
            "purpose": question.purpose,
            "mode": "predicate",
            "categories": {"predicate": [category], "released": []},
            "attribute": question.template.attribute,
            "template": question.template.id,
            "predicate": question.template.predicate.to_json(),
            "nonce_sha256": b64encode(hashlib.sha256(question.nonce.encode()).digest()),
            "answered_by": "wallet",
            **outcome,
        },
    )


async def _refuse(relay: Relay, event: Event, problem: Callable[[int], Problem]) -> Problem:
    """Record a refusal (it tells the recipient something about the customer), then return its problem."""
    try:
        index = await relay.queries.ledger.append_async(event)
    except (SQLAlchemyError, LedgerError) as exc:
        raise _ledger_unavailable() from exc
    return problem(index)


async def _refuse_purpose(relay: Relay, principal: ClientPrincipal, question: Question) -> Problem:
    """As the proxy's: the customer asked about is the subject (they see the attempt), the client when the
    subject names no one; the answer is the same either way."""
    try:
        subject = relay.queries.pseudonyms((await subject_customer(relay.queries, question.subject)).customer_id)
    except Problem:
        subject = principal.actor
    event = purpose_refusal(
        principal.actor,
        subject,
        principal.organization,
        principal.client_id,
        question.purpose,
        mode="predicate",
        attribute=question.template.attribute,
        template=question.template.id,
    )
    return await _refuse(relay, event, lambda index: purpose_not_allowed(question.purpose, index))


def _check_question(
    relay: Relay, principal: ClientPrincipal, question: Question, now: datetime, book: TemplateBook
) -> tuple[str, str]:
    """The checks that need no customer: template declared as carried, audience, instants (whether the role may
    ask it, and the purpose the client is registered for, are checked after, as refusals are recorded).
    Returns the attribute's category and the recipient's role."""
    zk = relay.queries.zk
    declared = book.get(question.template.id)
    if declared is None:
        raise Problem(404, "unknown-template", f"No question template {question.template.id!r} is declared.")
    if declared != question.template:
        raise Problem(
            422,
            "template-altered",
            f"The question does not carry template {declared.id!r} as declared: "
            "a recipient chooses a template, never its operator or operands.",
        )
    try:
        role = relay.queries.policies.taxonomy.recipient(principal.organization).role
    except UnknownNameError as exc:
        raise Problem(403, "policy-refused", "Your organization is not a recipient the policy knows.") from exc
    if question.audience != f"org:{principal.organization}":
        raise Problem(422, "wrong-audience", f"The question's audience must be org:{principal.organization}.")
    skew = timedelta(seconds=zk.settings.clock_skew_seconds)
    if abs(question.asked_at - now) > skew:
        raise Problem(422, "clock-skew", f"asked_at is more than {skew.seconds} s from the gateway's clock.")
    if question.expires_at - question.asked_at > timedelta(seconds=zk.settings.max_question_seconds):
        raise Problem(422, "question-too-long", f"A question stays open at most {zk.settings.max_question_seconds} s.")
    if question.expires_at <= now:
        raise Problem(422, "question-expired", "The question expired before it was asked.")
    return zk.registry.get(declared.attribute).category, role


async def _refuse_template(
    relay: Relay, principal: ClientPrincipal, pseudonym: str, category: str, question: Question, role: str, version: int
) -> Problem:
    """The matrix in force does not let this role ask this template for this purpose (any more): recorded like the
    policy's refusals, with the matrix version that decided it."""
    event = _question_event(
        principal.client_id,
        principal.organization,
        pseudonym,
        category,
        question,
        outcome="refused",
        reason="template_not_declared",
        matrix_version=version,
    )
    detail = (
        f"Under matrix version {version}, recipients of role {role!r} may not ask {question.template.id!r} "
        f"for the purpose {question.purpose!r}."
    )

    def refused(index: int) -> Problem:
        return Problem(
            403,
            "template-not-declared",
            detail,
            headers={"Consentry-Ledger-Index": str(index)},
            reason="template_not_declared",
            matrix_version=version,
            ledger_index=index,
        )

    return await _refuse(relay, event, refused)


def _claim_budget(
    engine: Engine, organization: str, pseudonym: str, attribute: str, period: str, template: str, budget: int
) -> bool:
    """Spend one slot of the budget for this template (nothing when it was asked in the period already); False
    when every slot went to other templates. Slots are keys, so concurrent workers cannot overspend."""
    t = zk_question_budget
    scope = and_(t.c.organization == organization, t.c.subject == pseudonym, t.c.attribute == attribute)
    for _ in range(budget + 2):
        with engine.connect() as conn:
            taken = conn.execute(select(t.c.template).where(scope, t.c.period == period)).scalars().all()
        if template in taken:
            return True
        if len(taken) >= budget:
            return False
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(t).values(
                        organization=organization,
                        subject=pseudonym,
                        attribute=attribute,
                        period=period,
                        slot=len(taken) + 1,
                        template=template,
                        created_at=datetime.now(UTC),
                    )
                )
            return True
        except IntegrityError:
            continue  # another worker took that slot (or asked this template) meanwhile: look again
    return False


def _insert_question(
    engine: Engine, principal: ClientPrincipal, customer: CustomerPrincipal, question: Question, now: datetime
) -> str:
    question_id = f"q-{secrets.token_urlsafe(12)}"
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(zk_questions).values(
                    id=question_id,
                    customer_id=customer.customer_id,
                    client_id=principal.client_id,
                    organization=principal.organization,
                    purpose=question.purpose,
                    template=question.template.id,
                    attribute=question.template.attribute,
                    nonce=question.nonce,
                    question=json.dumps(question.to_json()),
                    status=PENDING,
                    created_at=now,
                    expires_at=question.expires_at,
                )
            )
    except IntegrityError as exc:
        raise Problem(409, "nonce-replayed", "This nonce was already used by your client; use a fresh one.") from exc
    return question_id


Custodian = Callable[["Relay", CustomerPrincipal, str], None]


async def ask(
    relay: Relay, principal: ClientPrincipal, question_json: object, wait: int, custodian: Custodian | None = None
) -> dict[str, Any]:
    """Put a question to the subject's wallet and wait up to `wait` seconds for its answer (see the module).
    `custodian` answers at once for a customer who chose custodial answering (`gateway.zk.custody`)."""
    queries = relay.queries
    zk = queries.zk
    enforce((zk.limiter, principal.client_id))
    try:
        question = Question.from_json(question_json)
    except ZkpError as exc:
        raise Problem(422, "invalid-question", str(exc)) from exc
    now = _now()
    try:
        book = await run_in_threadpool(zk.templates.current, queries.policies.matrix)
    except (SQLAlchemyError, StateUnavailableError) as exc:
        raise Problem(503, "unavailable", "The matrix in force cannot be read; nothing is asked.") from exc
    category, role = _check_question(relay, principal, question, now, book)
    if question.purpose not in principal.allowed_purposes:
        raise await _refuse_purpose(relay, principal, question)
    customer = await subject_customer(queries, question.subject)
    pseudonym = queries.pseudonyms(customer.customer_id)
    if not book.allows(role, question.template, question.purpose):
        raise await _refuse_template(relay, principal, pseudonym, category, question, role, book.version)
    try:
        decision = await run_in_threadpool(decide, queries, principal, customer, category, question.purpose)
    except PolicyRefused as refused:
        event = _question_event(
            principal.client_id,
            principal.organization,
            pseudonym,
            category,
            question,
            outcome="refused",
            withheld={category: refused.failures},
        )
        raise await _refuse(relay, event, refused.problem) from None
    version = int(decision["matrix_version"])
    if version != book.version:  # the matrix changed meanwhile: the template is judged by the decision's version
        book = await run_in_threadpool(zk.templates.at, queries.policies.matrix, version)
        if not book.allows(role, question.template, question.purpose):
            raise await _refuse_template(relay, principal, pseudonym, category, question, role, version)
    statement = await run_in_threadpool(
        current_statement, relay.engine, question.subject, question.template.attribute, now
    )
    if statement is None:
        raise Problem(404, "no-statement", "No source has a current statement about this subject's attribute.")
    period = f"{format_utc(statement.issued_at)}/{format_utc(statement.valid_until)}"
    claimed = await run_in_threadpool(
        _claim_budget,
        relay.engine,
        principal.organization,
        pseudonym,
        question.template.attribute,
        period,
        question.template.id,
        book.budget,
    )
    if not claimed:
        event = _question_event(
            principal.client_id,
            principal.organization,
            pseudonym,
            category,
            question,
            outcome="refused",
            reason="question_budget_exhausted",
        )
        detail = (
            f"Your organization already asked {book.budget} other question(s) about this subject's "
            f"{question.template.attribute} until {format_utc(statement.valid_until)}; another threshold is refused."
        )

        def exhausted(index: int) -> Problem:
            return Problem(
                403,
                "question-budget-exhausted",
                detail,
                headers={"Consentry-Ledger-Index": str(index)},
                reason="question_budget_exhausted",
                ledger_index=index,
            )

        raise await _refuse(relay, event, exhausted) from None
    question_id = await run_in_threadpool(_insert_question, relay.engine, principal, customer, question, now)
    zk.signals.notify(f"wallet:{customer.customer_id}")
    if custodian is not None:
        await run_in_threadpool(custodian, relay, customer, question_id)
    return await outcome(relay, principal, question_id, wait)


def load_question(engine: Engine, question_id: str) -> Mapping[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(zk_questions).where(zk_questions.c.id == question_id)).mappings().first()
    return None if row is None else dict(row)


async def outcome(relay: Relay, principal: ClientPrincipal, question_id: str, wait: float) -> dict[str, Any]:
    """The question's outcome for its recipient, waiting up to `wait` seconds while it is pending."""
    loop_deadline = datetime.now(UTC) + timedelta(seconds=max(0.0, min(wait, MAX_WAIT_SECONDS)))
    while True:
        row = await run_in_threadpool(load_question, relay.engine, question_id)
        if row is None or row["client_id"] != principal.client_id:
            raise Problem(404, "not-found", "No such question of yours.")
        if row["status"] != PENDING:
            return _closed_view(row)
        now = datetime.now(UTC)
        expires = _aware(row["expires_at"])
        if now >= expires or now >= loop_deadline:
            return _unanswered(row, expired=now >= expires)
        remaining = min((loop_deadline - now).total_seconds(), (expires - now).total_seconds())
        await relay.queries.zk.signals.wait(f"question:{question_id}", min(remaining, DB_RECHECK_SECONDS))


def _closed_view(row: Mapping[str, Any]) -> dict[str, Any]:
    if row["status"] == DECLINED:
        raise Problem(
            403,
            "customer-declined",
            "The customer's wallet declined to answer.",
            reason=row["reason"],
            question_id=row["id"],
            ledger_index=row["ledger_index"],
        )
    document = json.loads(row["document"])
    statement = SignedStatement.from_json(document["answer"]["statement"]).statement
    return {
        "question_id": row["id"],
        "status": ANSWERED,
        "holds": document["answer"]["holds"],
        "statement": {
            "source": statement.source,
            "attribute": statement.attribute.name,
            "schema_version": statement.schema_version,
            "seq": statement.seq,
            "issued_at": format_utc(statement.issued_at),
            "valid_until": format_utc(statement.valid_until),
            "ledger_index": document["evidence"]["ledger_index"],
        },
        "answer": document,
        "ledger_index": row["ledger_index"],
    }


def _unanswered(row: Mapping[str, Any], *, expired: bool) -> dict[str, Any]:
    location = f"/v1/zk/questions/{row['id']}"
    raise Problem(
        504,
        "customer-unavailable",
        "The customer's wallet did not answer in time; nothing was answered for them."
        + ("" if expired else f" The question stays open until it expires: poll {location}."),
        headers={} if expired else {"Location": location, "Retry-After": "2"},
        question_id=row["id"],
        expires_at=format_utc(_aware(row["expires_at"])),
        poll=None if expired else location,
    )


# -- the wallet's side: polling, answering, declining --------------------------------------------------------


def _pending(engine: Engine, customer_id: str, after: int | None, now: datetime) -> list[Mapping[str, Any]]:
    t = zk_questions
    conditions = [t.c.customer_id == customer_id, t.c.status == PENDING, t.c.expires_at > now]
    if after is not None:
        conditions.append(t.c.seq > after)
    with engine.connect() as conn:
        rows = conn.execute(select(t).where(*conditions).order_by(t.c.seq).limit(MAX_QUESTIONS_PER_POLL)).mappings()
        return [dict(row) for row in rows]


def pending_for(relay: Relay, customer: CustomerPrincipal) -> list[PendingQuestion]:
    """The questions waiting for the customer now (oldest first), for the portal."""
    rows = _pending(relay.engine, customer.customer_id, None, datetime.now(UTC))
    return [_pending_question(relay, row) for row in rows]


def _pending_question(relay: Relay, row: Mapping[str, Any]) -> PendingQuestion:
    taxonomy = relay.queries.policies.taxonomy
    organization = row["organization"]
    name = taxonomy.recipients[organization].name.get("en") if organization in taxonomy.recipients else organization
    question = Question.from_json(json.loads(row["question"]))
    return PendingQuestion(row["id"], question, Recipient(question.audience, name))


async def poll(relay: Relay, customer: CustomerPrincipal, after: str | None, wait: int) -> dict[str, Any]:
    """The questions for the customer's wallet created after the cursor, waiting up to `wait` seconds."""
    cursor: int | None = None
    if after is not None:
        if not after.isdigit() or len(after) > 18:
            raise Problem(422, "invalid-cursor", "The cursor is the one a previous poll returned.")
        cursor = int(after)
    deadline = datetime.now(UTC) + timedelta(seconds=max(0, min(wait, MAX_WAIT_SECONDS)))
    signals = relay.queries.zk.signals
    with signals.holding(f"poll:{customer.customer_id}", MAX_POLLS_PER_CUSTOMER) as allowed:
        if not allowed:
            raise Problem(
                429,
                "too-many-polls",
                f"At most {MAX_POLLS_PER_CUSTOMER} long polls per customer are held at once; wait for one to return.",
                headers={"Retry-After": "1"},
            )
        while True:
            rows = await run_in_threadpool(_pending, relay.engine, customer.customer_id, cursor, datetime.now(UTC))
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if rows or remaining <= 0:
                break
            await signals.wait(f"wallet:{customer.customer_id}", min(remaining, DB_RECHECK_SECONDS))
    next_cursor = str(rows[-1]["seq"]) if rows else after
    return QuestionBatch(tuple(_pending_question(relay, row) for row in rows), next_cursor).to_json()


def _open_question(engine: Engine, customer: CustomerPrincipal, question_id: str) -> Mapping[str, Any]:
    row = load_question(engine, question_id)
    if row is None or row["customer_id"] != customer.customer_id:
        raise Problem(404, "not-found", "No such question for you.")
    if row["status"] != PENDING or _aware(row["expires_at"]) <= datetime.now(UTC):
        raise Problem(409, "question-closed", "This question was answered, declined or expired.")
    return row


def _successor(relay: Relay, digest: str, now: datetime) -> tuple[SignedStatement, int] | None:
    """The latest statement of the series of `digest` anchored here and current by `now`, and its ledger index:
    what shows a verifier that the statement `digest` was superseded."""
    t = zk_statements
    answered = select(t.c.source, t.c.subject, t.c.attribute, t.c.seq).where(t.c.digest == digest).subquery()
    series = and_(
        t.c.source == answered.c.source, t.c.subject == answered.c.subject, t.c.attribute == answered.c.attribute
    )
    with relay.engine.connect() as conn:
        later = conn.execute(
            select(t.c.statement, t.c.ledger_index)
            .join(answered, series)
            .where(t.c.seq > answered.c.seq, t.c.issued_at <= now)
            .order_by(t.c.seq.desc())
            .limit(1)
        ).first()
    if later is None:
        return None
    return SignedStatement.from_json(json.loads(later.statement)), int(later.ledger_index)


def _evidence(relay: Relay, index: int, digest: str, now: datetime) -> Evidence:
    """The anchor's evidence: entry, payload salt, inclusion proof and a checkpoint cosigned by our clock now,
    with the statement's successor (included in the same checkpoint) when one supersedes it by now."""
    ledger = relay.queries.ledger
    later = _successor(relay, digest, now)
    note, size, _ = covering_checkpoint(relay.queries, index if later is None else max(index, later[1]))
    salted = ledger.salted_payload(index)
    if salted is None:
        raise Problem(410, "anchor-erased", "The statement's anchor was erased.")
    successor = None
    if later is not None and (later_salted := ledger.salted_payload(later[1])) is not None:
        signed, at = later
        proof = tuple(ledger.inclusion_proof(at, size))
        successor = Successor(signed, at, anchor_time(ledger.entry(at), at), later_salted[0], proof)
    timed = cosign(note, relay.queries.zk.clock_key, int(now.timestamp()))
    return Evidence.from_ledger(
        ledger.entry(index), index, salted[0], ledger.inclusion_proof(index, size), timed, successor
    )


def statement_evidence(relay: Relay, digest: str) -> dict[str, Any]:
    """Fresh evidence for an anchored statement: a holder of a stored answer re-checks it as of now, and sees
    the successor when the statement was superseded."""
    with relay.engine.connect() as conn:
        index = conn.execute(
            select(zk_statements.c.ledger_index).where(zk_statements.c.digest == digest)
        ).scalar_one_or_none()
    if index is None:
        raise Problem(404, "not-found", "No statement with this digest is anchored here.")
    return _evidence(relay, int(index), digest, datetime.now(UTC)).to_json()


def _verify(relay: Relay, row: Mapping[str, Any], answer_json: object) -> tuple[dict[str, Any], bool]:
    """The answer with its evidence, checked with the public verifier against the question as asked."""
    question = Question.from_json(json.loads(row["question"]))
    try:
        answer = ProvenAnswer.from_json(answer_json)
    except ZkpError as exc:
        raise Problem(422, "answer-rejected", f"malformed: {exc}", reason="malformed") from exc
    digest = answer.statement.statement.digest().hex()
    with relay.engine.connect() as conn:
        index = conn.execute(
            select(zk_statements.c.ledger_index).where(zk_statements.c.digest == digest)
        ).scalar_one_or_none()
    if index is None:
        raise Problem(422, "answer-rejected", "inclusion: the statement was never anchored here.", reason="inclusion")
    now = datetime.now(UTC)
    document = {"answer": answer.to_json(), "evidence": _evidence(relay, int(index), digest, now).to_json()}
    try:
        verified = verify_full_answer(document, relay.trust(), question=question, now=now)
    except AnswerRejected as exc:
        raise Problem(422, "answer-rejected", str(exc), reason=exc.reason) from exc
    return document, verified.holds


def _close(relay: Relay, row: Mapping[str, Any], event: Event, values: dict[str, Any]) -> int:
    """Append the question's ledger entry and close the question in the same transaction."""

    def closing(conn: Connection, index: int) -> None:
        changed = conn.execute(
            update(zk_questions)
            .where(zk_questions.c.id == row["id"], zk_questions.c.status == PENDING)
            .values(**values, ledger_index=index, closed_at=datetime.now(UTC))
        ).rowcount
        if changed != 1:
            raise QuestionClosedError(row["id"])

    try:
        return relay.queries.ledger.append(event, effects=closing)
    except QuestionClosedError as exc:
        raise Problem(409, "question-closed", "This question was answered or declined meanwhile.") from exc
    except (SQLAlchemyError, LedgerError) as exc:
        raise _ledger_unavailable() from exc


class QuestionClosedError(Exception):
    """Another request closed the question first; the entry is rolled back."""


def _category(relay: Relay, row: Mapping[str, Any]) -> str:
    return relay.queries.zk.registry.get(row["attribute"]).category


def answer(relay: Relay, customer: CustomerPrincipal, question_id: str, answer_json: object) -> dict[str, Any]:
    """Verify the wallet's answer, record question and answer, and release it to the waiting recipient."""
    row = _open_question(relay.engine, customer, question_id)
    document, holds = _verify(relay, row, answer_json)
    question = Question.from_json(json.loads(row["question"]))
    statement = SignedStatement.from_json(document["answer"]["statement"]).statement
    event = _question_event(
        row["client_id"],
        row["organization"],
        relay.queries.pseudonyms(customer.customer_id),
        _category(relay, row),
        question,
        outcome="answered",
        holds=holds,
        statement={"ledger_index": document["evidence"]["ledger_index"], "digest": statement.digest().hex()},
    )
    index = _close(relay, row, event, {"status": ANSWERED, "document": json.dumps(document)})
    relay.queries.zk.signals.notify(f"question:{question_id}")
    return {"status": "relayed", "holds": holds, "ledger_index": index}


def decline(relay: Relay, customer: CustomerPrincipal, question_id: str, reason: DeclineReason) -> dict[str, Any]:
    """The wallet declines; the recipient learns the reason and nothing else."""
    row = _open_question(relay.engine, customer, question_id)
    question = Question.from_json(json.loads(row["question"]))
    event = _question_event(
        row["client_id"],
        row["organization"],
        relay.queries.pseudonyms(customer.customer_id),
        _category(relay, row),
        question,
        outcome="declined",
        reason=reason.value,
    )
    index = _close(relay, row, event, {"status": DECLINED, "reason": reason.value})
    relay.queries.zk.signals.notify(f"question:{question_id}")
    return {"status": "declined", "ledger_index": index}
