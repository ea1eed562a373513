"""One proxied access, end to end: purpose check, subject, decision, filtered fetch, ledger entry, points.

The route (`gateway.routers.proxy`) only translates HTTP; this module holds the order of the steps, which
is the security argument: the decision comes before the fetch, the filter releases only what the decision
allowed, and the access is durable in the ledger before a single released byte is returned. Any failure on
the way is a `Problem` that releases nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from starlette.concurrency import run_in_threadpool

from gateway.audit.pseudonyms import Pseudonyms
from gateway.audit.refusals import purpose_not_allowed, purpose_refusal
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.rights.points import accrual_effect
from gateway.upstream import (
    CircuitOpen,
    FilterResult,
    InvalidSubject,
    RequestTooLarge,
    ResolvedRequest,
    UnknownResource,
    UnknownUpstream,
    UpstreamConfig,
    UpstreamFailure,
    UpstreamRegistry,
)
from gateway.web.problems import Problem
from ledger import Event
from ledger.store import Ledger
from policies import Decision, PolicyRuntime, Reason, StateUnavailableError, UnknownNameError

__all__ = [
    "ACCESS_EVENT",
    "CHECK_EVENT",
    "PURPOSE_HEADER",
    "AccessFlow",
    "AccessOutcome",
    "CheckOutcome",
    "append_access",
    "check",
    "decide",
    "public_reasons",
    "read",
    "require_purpose",
    "require_purpose_recorded",
    "withheld_reasons",
]

log = structlog.get_logger("gateway.access")
T = TypeVar("T")

PURPOSE_HEADER = "Consentry-Purpose"
ACCESS_EVENT = "access"
CHECK_EVENT = "access.check"
DEPARTMENT_HEADER = "Consentry-Department"
STAFF_HEADER = "Consentry-Staff"  # a pseudonymous staff id, never a name: it is shown to the customer
STAFF_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# The matrix's or legal basis's positive answers: a withheld category is explained by its failures only.
_POSITIVE = frozenset({Reason.MATRIX_ALLOW, Reason.CONSENT, Reason.LEGAL_BASIS})
_NOT_FOUND = "No such record."


@dataclass(frozen=True)
class AccessFlow:
    """What one proxied read works with, resolved once when the gateway starts (never per request).

    `reads_inline` says whether hot-path database reads may run on the event loop (embedded SQLite) or go to
    the threadpool (a server database); see `_read_state`.
    """

    upstreams: UpstreamRegistry
    customers: CustomerStore
    policies: PolicyRuntime
    ledger: Ledger
    pseudonyms: Pseudonyms
    subject_cache_seconds: float
    reads_inline: bool


@dataclass(frozen=True)
class AccessOutcome:
    """What a released read returns: the filtered document and the account of what was withheld."""

    ledger_index: int
    decision: Decision
    result: FilterResult
    points: int
    withheld: dict[str, list[str]]
    """Every withheld category with its reason codes (unmapped fields are counted apart), as the ledger entry
    records them."""


@dataclass(frozen=True)
class CheckOutcome:
    ledger_index: int
    decision: Decision


def public_reasons(reasons: Sequence[Reason]) -> list[str]:
    """Reason codes a client may see for a withheld category: the failures, never rule ids or records."""
    failures = [r.value for r in reasons if r not in _POSITIVE]
    return failures or [r.value for r in reasons]


def require_purpose(principal: ClientPrincipal, purpose: str | None) -> str:
    if not purpose:
        raise Problem(400, "purpose-required", f"Declare the purpose of this access in the {PURPOSE_HEADER} header.")
    if purpose not in principal.allowed_purposes:
        raise Problem(403, "purpose-not-allowed", f"Your client is not registered for the purpose {purpose!r}.")
    return purpose


def declared_for(
    flow: AccessFlow, principal: ClientPrincipal, department: str | None, staff: str | None
) -> dict[str, str]:
    """The department (one the taxonomy lists for the client's organization) and the staff member's pseudonymous
    id a read declares it is made for, as they go into the ledger entry; a department the organization does not
    have, or a malformed staff id, is refused before anything is read."""
    declared: dict[str, str] = {}
    if department:
        recipient = flow.policies.taxonomy.recipients.get(principal.organization)
        if recipient is None or department not in recipient.departments:
            known = ", ".join(sorted(recipient.departments)) if recipient is not None else ""
            raise Problem(
                400,
                "unknown-department",
                f"{department!r} is not a department of your organization in the taxonomy"
                + (f" (one of {known})." if known else "; it declares none."),
            )
        declared["department"] = department
    if staff:
        if not STAFF_ID.fullmatch(staff):
            raise Problem(400, "invalid-staff-id", f"{STAFF_HEADER}: 1-64 characters from A-Z a-z 0-9 . _ -.")
        declared["staff"] = staff
    return declared


async def require_purpose_recorded(
    flow: AccessFlow,
    principal: ClientPrincipal,
    purpose: str | None,
    source: str,
    path: str,
    query: Mapping[str, str],
) -> str:
    """`require_purpose`, with a refusal for a purpose the client is not registered for recorded in the ledger:
    it is an authorization decision about the customer named in the path (their pseudonym is the entry's
    subject, so they see the attempt), or about no one when the path names nobody (the client is the subject).
    The answer is the same either way, so it tells nothing about which records exist."""
    if not purpose or purpose in principal.allowed_purposes:
        return require_purpose(principal, purpose)
    try:
        _, resolved = resolve(flow, source, path, query)
        subject = flow.pseudonyms((await subject_customer(flow, resolved)).customer_id)
    except Problem:
        subject = principal.actor
    event = purpose_refusal(
        principal.actor, subject, principal.organization, principal.client_id, purpose, upstream=source
    )
    raise purpose_not_allowed(purpose, await append_access(flow, event))


def _not_found() -> Problem:
    # Unknown upstream, resource, subject or record: one answer, so nothing tells which exists.
    return Problem(404, "not-found", _NOT_FOUND)


def resolve(
    flow: AccessFlow, source: str, path: str, query: Mapping[str, str]
) -> tuple[UpstreamConfig, ResolvedRequest]:
    try:
        config = flow.upstreams.config(source)
        return config, config.resolve("/" + path, query)
    except (UnknownUpstream, UnknownResource, InvalidSubject):
        raise _not_found() from None


async def _read_state(flow: AccessFlow, read: Callable[..., T], *args: Any) -> T:
    """Run a database read for the hot path. Embedded SQLite answers from the page cache with no network wait,
    so a thread hop (and the interpreter-lock handover it causes) costs more than the read: it runs here. A
    server database's round trip would stall every other request, so it goes to the threadpool."""
    if flow.reads_inline:
        return read(*args)
    return await run_in_threadpool(read, *args)


async def subject_customer(flow: AccessFlow, resolved: ResolvedRequest) -> CustomerPrincipal:
    """The gateway customer a source system's subject names; read from memory when recent (customer type and
    jurisdiction change rarely, and consents are never cached), else from the database off the event loop."""
    customers = flow.customers
    customer = customers.recent_by_source_subject(resolved.subject, flow.subject_cache_seconds)
    if customer is None:
        customer = await _read_state(flow, customers.remember_source_subject, resolved.subject)
    if customer is None:
        raise _not_found()
    return customer


async def decide(
    flow: AccessFlow, principal: ClientPrincipal, customer: CustomerPrincipal, categories: Sequence[str], purpose: str
) -> Decision:
    subject = customer.subject_context
    try:
        return await _read_state(
            flow, flow.policies.engine.decide, principal.organization, subject, list(categories), purpose
        )
    except UnknownNameError as exc:
        if exc.kind == "purpose":
            raise Problem(400, "unknown-purpose", f"The taxonomy has no purpose {exc.name!r}.") from None
        if exc.kind == "recipient":
            raise Problem(403, "unknown-recipient", "Your organization is not a registered data recipient.") from None
        raise Problem(
            409, "subject-not-decidable", f"The customer's {exc.kind} is not in the taxonomy; nothing is released."
        ) from None
    except StateUnavailableError:
        log.warning("policy_state_unavailable")
        raise Problem(503, "policy-unavailable", "Consent state cannot be read; nothing is released.") from None


def withheld_reasons(decision: Decision) -> dict[str, list[str]]:
    return {c.category: public_reasons(c.reasons) for c in decision.categories if not c.allowed}


def _consents(decision: Decision) -> list[dict[str, Any]]:
    return [
        {"category": c.category, "record_id": c.consent.record_id, "ledger_index": c.consent.ledger_index}
        for c in decision.categories
        if c.consent is not None
    ]


async def append_access(flow: AccessFlow, event: Event, effects: Any = None) -> int:
    try:
        return await flow.ledger.append_async(event, effects=effects)
    except Exception as exc:  # any failure to make the entry durable: release nothing
        log.error("ledger_append_failed", error_type=type(exc).__name__, event_type=event.type)
        raise Problem(503, "ledger-unavailable", "The access cannot be recorded, so nothing is released.") from None


async def read(
    flow: AccessFlow,
    principal: ClientPrincipal,
    source: str,
    path: str,
    query: Mapping[str, str],
    purpose: str | None,
    *,
    department: str | None = None,
    staff: str | None = None,
) -> AccessOutcome:
    """Decide, fetch, filter and record one read; raises `Problem` whenever nothing may be released."""
    declared = declared_for(flow, principal, department, staff) if department or staff else {}
    purpose = await require_purpose_recorded(flow, principal, purpose, source, path, query)
    config, resolved = resolve(flow, source, path, query)
    customer = await subject_customer(flow, resolved)
    decision = await decide(flow, principal, customer, config.field_map.sorted_categories, purpose)
    try:
        fetched = await flow.upstreams.client(source).fetch_filtered(resolved, decision.allowed)
    except CircuitOpen as exc:
        raise Problem(
            exc.status_code, exc.problem_type, str(exc), headers={"Retry-After": str(max(1, int(exc.retry_after)))}
        ) from None
    except (UpstreamFailure, RequestTooLarge) as exc:
        raise Problem(exc.status_code, exc.problem_type, str(exc)) from None
    if fetched.result is None:
        raise _not_found()
    result = fetched.result
    released = list(result.released_categories)
    withheld = withheld_reasons(decision)
    offer = flow.policies.taxonomy.purpose(purpose).value_offer
    points = offer.points_per_use if offer is not None and released else 0
    donation = offer.donation_per_use if offer is not None and released else 0
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "recipient": principal.organization,
        "client_id": principal.client_id,
        "purpose": purpose,
        "upstream": source,
        "outcome": "released" if released else "refused",
        "released": released,
        "withheld": withheld,
        "unmapped_withheld": len(result.unmapped),
        "matrix_version": decision.matrix_version,
        "consents": _consents(decision),
        **declared,
    }
    if points:
        payload["points"] = points
    if donation and offer is not None:  # the enterprise's matched donation for this use, shown to the customer
        payload["donation"] = {"amount": donation, "currency": offer.donation_currency}
    event = Event(ACCESS_EVENT, principal.actor, flow.pseudonyms(customer.customer_id), payload, now)
    earned = points or donation
    effects = accrual_effect(customer.customer_id, purpose, principal.organization, points, now) if earned else None
    index = await append_access(flow, event, effects)
    outcome = AccessOutcome(index, decision, result, points, withheld)
    if not released:
        raise Problem(
            403,
            "access-refused",
            "No category of this record may be released to you for this purpose.",
            headers={"Consentry-Ledger-Index": str(index)},
            withheld=outcome.withheld,
            ledger_index=index,
        )
    return outcome


async def check(
    flow: AccessFlow,
    principal: ClientPrincipal,
    source: str,
    path: str,
    query: Mapping[str, str],
    purpose: str | None,
) -> CheckOutcome:
    """ "May I?": the decision per category, without fetching. It discloses consent state, which is itself
    processing of the customer's data, so it is recorded in the ledger like a read."""
    purpose = await require_purpose_recorded(flow, principal, purpose, source, path, query)
    config, resolved = resolve(flow, source, path, query)
    customer = await subject_customer(flow, resolved)
    decision = await decide(flow, principal, customer, config.field_map.sorted_categories, purpose)
    payload = {
        "recipient": principal.organization,
        "client_id": principal.client_id,
        "purpose": purpose,
        "upstream": source,
        "allowed": list(decision.allowed),
        "withheld": withheld_reasons(decision),
        "matrix_version": decision.matrix_version,
        "consents": _consents(decision),
    }
    event = Event(CHECK_EVENT, principal.actor, flow.pseudonyms(customer.customer_id), payload)
    return CheckOutcome(await append_access(flow, event), decision)
