"""Answering a predicate query: policy decision, current anchor, proof, ledger access, evidence.

The steps mirror a proxied read (see ARCHITECTURE.md), with "fetch and filter" replaced by "prove the
predicate against the subject's ledger-anchored commitment": nothing of the value leaves, and the
answer is released only after the access (and the nonce's use) is durable in the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from gateway.audit.checkpoints import CheckpointBook
from gateway.audit.pseudonyms import Pseudonyms
from gateway.audit.refusals import purpose_not_allowed, purpose_refusal
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.auth.rate_limits import enforce
from gateway.upstream import CircuitOpen, InvalidSubject, UnknownUpstream, UpstreamFailure, UpstreamRegistry
from gateway.web.problems import Problem
from gateway.zk.anchors import Anchor, AnchorConflictError, AnchorResult
from gateway.zk.attributes import (
    DerivationError,
    NoValueError,
    UnknownAttributeError,
    ZkAttribute,
    read_pointer,
)
from gateway.zk.nonces import NonceBook, nonce_digest
from gateway.zk.response import QUERY_EVENT, anchor_label
from gateway.zk.service import ZkService
from ledger import Event, LedgerError, verify_checkpoint
from ledger.b64 import b64encode
from ledger.store import Ledger
from policies import PolicyRuntime, Reason, StateUnavailableError, UnknownNameError
from zkp import Context, Predicate, SchemaError, Statement, ZkpError, answer

_ALLOW_REASONS = frozenset({Reason.MATRIX_ALLOW, Reason.CONSENT, Reason.LEGAL_BASIS})


@dataclass(frozen=True)
class ZkQueries:
    """What answering a predicate query works with, besides the zero-knowledge service itself: the customer
    store (who the subject is), the policies (may this be asked), the upstreams (ingesting a value), the
    ledger and its checkpoints (recording the access, giving the evidence) and the subject pseudonyms."""

    zk: ZkService
    customers: CustomerStore
    policies: PolicyRuntime
    upstreams: UpstreamRegistry
    ledger: Ledger
    checkpoints: CheckpointBook
    pseudonyms: Pseudonyms
    subject_cache_seconds: float


@dataclass(frozen=True)
class ZkQuery:
    subject: str
    attribute: str
    predicate: dict[str, Any]
    purpose: str
    nonce: str


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def attribute_or_404(zk: ZkService, attribute_id: str) -> ZkAttribute:
    try:
        return zk.registry.get(attribute_id)
    except UnknownAttributeError as exc:
        raise Problem(404, "unknown-attribute", str(exc)) from exc


def _not_found() -> Problem:
    # Unknown subject and unenrolled subject: one answer, as the proxy gives, so nothing tells which exists.
    return Problem(404, "not-found", "No such subject, or nothing to answer about it.")


async def subject_customer(queries: ZkQueries, subject: str) -> CustomerPrincipal:
    """The gateway customer a source system's subject names (customer type, jurisdiction, consent id).

    Like the proxy: from memory when read recently, else from the database off the event loop."""
    customers = queries.customers
    customer = customers.recent_by_source_subject(subject, queries.subject_cache_seconds)
    if customer is None:
        customer = await run_in_threadpool(customers.remember_source_subject, subject)
    if customer is None:
        raise _not_found()
    return customer


class PolicyRefused(Exception):
    """The matrix or the customer's consents refuse a predicate on the category (recorded, then a 403)."""

    def __init__(self, category: str, reasons: tuple[Reason, ...]) -> None:
        super().__init__(category)
        self.category = category
        self.reasons = reasons

    @property
    def failures(self) -> list[str]:
        return [r.value for r in self.reasons if r not in _ALLOW_REASONS] or [r.value for r in self.reasons]

    def problem(self, ledger_index: int) -> Problem:
        return Problem(
            403,
            "policy-refused",
            f"The policy does not allow a predicate on {self.category}: {self.failures[0]}.",
            headers={"Consentry-Ledger-Index": str(ledger_index)},
            reason=self.failures[0],
            reasons=[r.value for r in self.reasons],
            category=self.category,
            ledger_index=ledger_index,
        )


def decide(
    queries: ZkQueries, principal: ClientPrincipal, customer: CustomerPrincipal, category: str, purpose: str
) -> dict[str, Any]:
    """The predicate-mode decision for one category; raises `PolicyRefused` when the policy says no."""
    subject = customer.subject_context
    try:
        decision = queries.policies.engine.decide(
            principal.organization, subject, [category], purpose, mode="predicate"
        )
    except UnknownNameError as exc:
        if exc.kind == "recipient":
            raise Problem(
                403,
                "policy-refused",
                "Your organization is not a recipient the policy knows.",
                reason="unknown_recipient",
                reasons=["unknown_recipient"],
                category=category,
            ) from exc
        if exc.kind == "purpose":
            raise Problem(422, "unknown-purpose", str(exc)) from exc
        raise Problem(
            409, "subject-not-decidable", f"The customer's {exc.kind} is not in the taxonomy; nothing is answered."
        ) from exc
    except StateUnavailableError as exc:
        raise Problem(503, "unavailable", "Consent and policy state cannot be read; nothing is answered.") from exc
    verdict = decision.of(category)
    if not verdict.allowed:
        raise PolicyRefused(category, verdict.reasons)
    return {
        "matrix_version": decision.matrix_version,
        "rule": verdict.rule,
        "legal_basis": verdict.legal_basis,
        "reasons": [r.value for r in verdict.reasons],
        "consent": None
        if verdict.consent is None
        else {"record_id": verdict.consent.record_id, "ledger_index": verdict.consent.ledger_index},
    }


async def ingest(
    queries: ZkQueries,
    customer: CustomerPrincipal,
    attribute: ZkAttribute,
    *,
    actor: str,
    source: str | None = None,
) -> AnchorResult:
    """Read the customer's record from the source system (only the attribute's category) and anchor it."""
    subject = customer.source_subject
    if subject is None:
        raise _not_found()
    name = source or queries.zk.source_for(attribute, queries.upstreams)
    if name is None:
        raise Problem(404, "no-source", f"No registered upstream maps the category {attribute.category}.")
    try:
        config = queries.upstreams.config(name)
        read = await queries.upstreams.client(name).fetch_filtered(config.record_request(subject), {attribute.category})
    except UnknownUpstream as exc:
        raise Problem(404, "unknown-upstream", str(exc)) from exc
    except InvalidSubject as exc:
        raise Problem(422, "invalid-subject", str(exc)) from exc
    except (UpstreamFailure, CircuitOpen) as exc:
        raise Problem(exc.status_code, exc.problem_type, str(exc)) from exc
    if read.result is None:
        raise Problem(404, "unknown-subject", f"The source system {name!r} has no such subject.")
    today = datetime.now(UTC).date()
    try:
        value = attribute.derive_value(read_pointer(read.result.document, attribute.field), today)
    except NoValueError as exc:
        raise Problem(404, "no-attribute-value", str(exc)) from exc
    except DerivationError as exc:
        raise Problem(422, "underivable-attribute", str(exc)) from exc
    return await run_in_threadpool(
        _anchor,
        queries.zk,
        queries.pseudonyms(customer.customer_id),
        subject,
        attribute,
        value,
        actor=actor,
        source=f"upstream:{name}",
        as_of=today,
    )


def register(
    queries: ZkQueries, customer: CustomerPrincipal, attribute: ZkAttribute, raw: object, *, actor: str
) -> AnchorResult:
    """Anchor a value the customer registered themselves (only for attributes that allow it).

    The anchor names the customer's source-system subject, which is how relying parties ask about them."""
    if not attribute.customer_registrable:
        raise Problem(403, "not-customer-registrable", f"{attribute.id} comes from source systems only.")
    if customer.source_subject is None:
        raise Problem(409, "no-source-subject", "Your account is not linked to a customer number yet.")
    today = datetime.now(UTC).date()
    try:
        value = attribute.derive_value(raw, today)
    except DerivationError as exc:
        raise Problem(422, "underivable-attribute", str(exc)) from exc
    pseudonym = queries.pseudonyms(customer.customer_id)
    subject = customer.source_subject
    return _anchor(queries.zk, pseudonym, subject, attribute, value, actor=actor, source="customer", as_of=today)


def _anchor(
    zk: ZkService,
    pseudonym: str,
    subject: str,
    attribute: ZkAttribute,
    value: int | str,
    *,
    actor: str,
    source: str,
    as_of: date,
) -> AnchorResult:
    try:
        return zk.anchorer.anchor(pseudonym, subject, attribute, value, actor=actor, source=source, as_of=as_of)
    except (SQLAlchemyError, LedgerError, AnchorConflictError) as exc:  # not durable: nothing anchored or answered
        raise _ledger_unavailable() from exc


async def current_anchor(queries: ZkQueries, customer: CustomerPrincipal, attribute: ZkAttribute, actor: str) -> Anchor:
    """The anchor a query is answered from: the latest, ingested first when missing or stale."""
    latest = await run_in_threadpool(queries.zk.anchors.latest, queries.pseudonyms(customer.customer_id), attribute.id)
    today: date = datetime.now(UTC).date()
    if (
        latest is not None
        and latest.schema_version == attribute.version
        and not (attribute.time_dependent and latest.as_of != today)
    ):
        return latest
    return (await ingest(queries, customer, attribute, actor=actor)).anchor


def covering_checkpoint(queries: ZkQueries, index: int) -> tuple[str, int, bytes]:
    """The newest signed checkpoint if it covers `index`, else a freshly published one."""
    book = queries.checkpoints
    note = queries.ledger.latest_checkpoint()
    if note is not None:
        checkpoint = verify_checkpoint(note, book.verifier_keys, book.origin)
        if checkpoint.size > index:
            return note, checkpoint.size, checkpoint.root
    signed = book.latest()
    return signed.note, signed.checkpoint.size, signed.checkpoint.root


def _evidence(queries: ZkQueries, anchor: Anchor) -> dict[str, Any]:
    note, size, root = covering_checkpoint(queries, anchor.ledger_index)
    salted = queries.ledger.salted_payload(anchor.ledger_index)
    if salted is None:
        raise Problem(410, "anchor-erased", "The subject's anchored commitment was erased.")
    salt, payload = salted
    return {
        "ledger_index": anchor.ledger_index,
        "epoch": anchor.epoch,
        "as_of": anchor.as_of.isoformat(),
        "entry": b64encode(queries.ledger.entry(anchor.ledger_index)),
        "payload": json.loads(payload),
        "salt": b64encode(salt),
        "subject_salt": b64encode(anchor.subject_salt),
        "inclusion_proof": [b64encode(node) for node in queries.ledger.inclusion_proof(anchor.ledger_index, size)],
        "checkpoint": {"origin": queries.checkpoints.origin, "size": size, "root": b64encode(root), "note": note},
    }


async def answer_query(queries: ZkQueries, principal: ClientPrincipal, query: ZkQuery) -> dict[str, Any]:
    """Answer, or refuse with a problem. The client's rate limit is spent first, by every query whatever its
    outcome, so neither proofs (CPU) nor refusals (ledger entries) can be had faster than the limit."""
    enforce((queries.zk.limiter, principal.client_id))
    attribute = attribute_or_404(queries.zk, query.attribute)
    try:
        predicate = Predicate.from_json(query.predicate)
        predicate.check(attribute.schema)
    except ZkpError as exc:
        raise Problem(422, "invalid-predicate", str(exc)) from exc
    if query.purpose not in principal.allowed_purposes:
        raise await _refuse_purpose(queries, principal, attribute, query)
    now = datetime.now(UTC)
    if await run_in_threadpool(queries.zk.nonces.seen, principal.client_id, query.nonce, now):
        raise _replay()
    customer = await subject_customer(queries, query.subject)
    try:
        decision = await run_in_threadpool(decide, queries, principal, customer, attribute.category, query.purpose)
    except PolicyRefused as refused:
        raise refused.problem(
            await _record_refusal(queries, principal, customer, attribute, predicate, query, refused)
        ) from None
    anchor = await current_anchor(queries, customer, attribute, principal.actor)

    expires = now + timedelta(seconds=queries.zk.settings.proof_ttl_seconds)
    try:
        context = Context(
            query.nonce,
            principal.client_id,
            query.purpose,
            _rfc3339(expires),
            anchor_label(anchor.ledger_index, anchor.epoch),
        )
        statement = Statement(attribute.schema, anchor.commitment, predicate)
    except (ZkpError, SchemaError) as exc:
        raise Problem(422, "invalid-predicate", str(exc)) from exc
    result = await run_in_threadpool(answer, statement, queries.zk.anchorer.opening(anchor), context)

    access = _query_event(
        queries,
        principal,
        customer,
        attribute,
        predicate,
        query,
        outcome="answered",
        holds=result.holds,
        anchor={"ledger_index": anchor.ledger_index, "epoch": anchor.epoch},
        nonce_sha256=b64encode(nonce_digest(query.nonce)),
        decision=decision,
    )

    def claim_nonce(conn: Connection, _index: int) -> None:
        NonceBook.claim(conn, principal.client_id, query.nonce, expires, now)

    try:
        access_index = await queries.ledger.append_async(access, effects=claim_nonce)
    except IntegrityError as exc:
        raise _replay() from exc
    except (SQLAlchemyError, LedgerError) as exc:  # the access is not durable: answer nothing
        raise _ledger_unavailable() from exc
    evidence = await run_in_threadpool(_evidence, queries, anchor)
    return {
        "subject": query.subject,
        "attribute": attribute.id,
        "predicate": predicate.to_json(),
        "purpose": query.purpose,
        "holds": result.holds,
        "answer": result.to_json(),
        "context": context.to_json(),
        "anchor": evidence,
        "access": {"ledger_index": access_index, "decision": decision},
    }


def _query_event(
    queries: ZkQueries,
    principal: ClientPrincipal,
    customer: CustomerPrincipal,
    attribute: ZkAttribute,
    predicate: Predicate,
    query: ZkQuery,
    **outcome: Any,
) -> Event:
    """The ledger entry of a predicate query, answered or refused: who asked what about whom, and why."""
    return Event(
        type=QUERY_EVENT,
        actor=principal.actor,
        subject=queries.pseudonyms(customer.customer_id),
        payload={
            "recipient": principal.organization,
            "client_id": principal.client_id,
            "purpose": query.purpose,
            "mode": "predicate",
            "categories": {"predicate": [attribute.category], "released": []},
            "attribute": attribute.id,
            "predicate": predicate.to_json(),
            **outcome,
        },
    )


async def _record_refusal(
    queries: ZkQueries,
    principal: ClientPrincipal,
    customer: CustomerPrincipal,
    attribute: ZkAttribute,
    predicate: Predicate,
    query: ZkQuery,
    refused: PolicyRefused,
) -> int:
    """A refusal tells the client something about the customer's consents, so like the proxy's refusals it is
    an access the customer sees; if it cannot be recorded, the client learns nothing but that."""
    event = _query_event(
        queries,
        principal,
        customer,
        attribute,
        predicate,
        query,
        outcome="refused",
        withheld={attribute.category: refused.failures},
    )
    try:
        return await queries.ledger.append_async(event)
    except (SQLAlchemyError, LedgerError) as exc:
        raise _ledger_unavailable() from exc


async def _refuse_purpose(
    queries: ZkQueries, principal: ClientPrincipal, attribute: ZkAttribute, query: ZkQuery
) -> Problem:
    """As the proxy's: the customer asked about is the subject (they see the attempt), the client when the
    subject names no one; the answer is the same either way."""
    try:
        subject = queries.pseudonyms((await subject_customer(queries, query.subject)).customer_id)
    except Problem:
        subject = principal.actor
    event = purpose_refusal(
        principal.actor,
        subject,
        principal.organization,
        principal.client_id,
        query.purpose,
        mode="predicate",
        attribute=attribute.id,
    )
    try:
        return purpose_not_allowed(query.purpose, await queries.ledger.append_async(event))
    except (SQLAlchemyError, LedgerError) as exc:
        raise _ledger_unavailable() from exc


def _ledger_unavailable() -> Problem:
    return Problem(503, "ledger-unavailable", "The ledger cannot record this now, so nothing is answered.")


def _replay() -> Problem:
    return Problem(409, "nonce-replayed", "This nonce was already answered for your client; use a fresh one.")
