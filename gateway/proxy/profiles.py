"""One profile read across every source system that holds data about a customer.

The CRM names the customer by any identifier a source uses (customer number, account number, policy number);
the unified index (`gateway.auth.identity_index`) says which sources hold the customer and under which identifier.
Per source, the order is the proxy's (`gateway.proxy.access`): decide over the source's categories, fetch only if
something may be released, filter. Sources are fetched in parallel, each under its own deadline; a source that
fails, times out or whose decision cannot be made is reported with its status and contributes nothing. One ledger
entry records the whole read with every source's outcome, durable before a byte is released, so the read appears
once in the customer's "who used my data".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool

from gateway.audit.refusals import purpose_not_allowed, purpose_refusal
from gateway.auth.identity_index import IdentityIndex, IdentityLink
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.proxy.access import AccessFlow, append_access, decide, require_purpose, withheld_reasons
from gateway.rights.points import accrual_effect
from gateway.upstream import CircuitOpen, FilterResult, InvalidSubject, RequestTooLarge, UpstreamFailure
from gateway.web.problems import Problem
from ledger import Event

__all__ = ["PROFILE_EVENT", "ProfileFlow", "ProfileOutcome", "SourceOutcome", "read_profile"]

PROFILE_EVENT = "access.profile"
log = structlog.get_logger("gateway.profiles")

# Problems that concern the request itself, not one source: they stop the whole read.
_REQUEST_LEVEL = frozenset({"unknown-purpose", "unknown-recipient", "subject-not-decidable"})


@dataclass(frozen=True)
class ProfileFlow:
    """A profile read's collaborators: the proxy's access flow, the unified index and the per-source deadline."""

    access: AccessFlow
    index: IdentityIndex
    source_timeout: float


@dataclass
class SourceOutcome:
    """What one source contributed: `status` is `released`, `withheld` (nothing allowed, not called),
    `not-found`, `failed`, `timeout` or `decision-failed`; only `released` carries a document."""

    source: str
    status: str
    released: tuple[str, ...] = ()
    withheld: dict[str, list[str]] = field(default_factory=dict)
    unmapped_withheld: int = 0
    document: Any = None
    problem: str | None = None

    def summary(self) -> dict[str, Any]:
        """The source's outcome as the ledger and the answer state it (never its document)."""
        body: dict[str, Any] = {
            "status": self.status,
            "released": list(self.released),
            "withheld": self.withheld,
            "unmapped_withheld": self.unmapped_withheld,
        }
        if self.problem is not None:
            body["problem"] = self.problem
        return body


@dataclass(frozen=True)
class ProfileOutcome:
    ledger_index: int
    purpose: str
    matrix_version: int
    sources: tuple[SourceOutcome, ...]
    points: int

    @property
    def released(self) -> list[str]:
        return sorted({c for s in self.sources for c in s.released})


def _customer(flow: ProfileFlow, identifier: str) -> tuple[CustomerPrincipal, list[IdentityLink]]:
    owners = flow.index.resolve(identifier)
    # Unknown and ambiguous identifiers get the proxy's one 404, so the answer never tells which exists.
    if len(owners) != 1:
        raise Problem(404, "not-found", "No such record.")
    (customer_id,) = owners
    customer = flow.access.customers.get(customer_id)
    if customer is None:
        raise Problem(404, "not-found", "No such record.")
    names = set(flow.access.upstreams.names)
    return customer, [link for link in flow.index.links(customer_id) if link.source in names]


async def _decide(
    flow: ProfileFlow, principal: ClientPrincipal, customer: CustomerPrincipal, source: str, purpose: str
) -> tuple[SourceOutcome | None, Any]:
    categories = sorted(flow.access.upstreams.config(source).field_map.categories)
    try:
        decision = await decide(flow.access, principal, customer, categories, purpose)
    except Problem as problem:
        if problem.kind in _REQUEST_LEVEL:
            raise
        return SourceOutcome(source, "decision-failed", problem=problem.kind), None
    return None, decision


async def _fetch(flow: ProfileFlow, link: IdentityLink, decision: Any) -> SourceOutcome:
    withheld = withheld_reasons(decision)
    if not decision.allowed:
        return SourceOutcome(link.source, "withheld", withheld=withheld)
    config = flow.access.upstreams.config(link.source)
    try:
        resolved = config.record_request(link.identifier)
        fetched = await asyncio.wait_for(
            flow.access.upstreams.client(link.source).fetch_filtered(resolved, decision.allowed), flow.source_timeout
        )
    except TimeoutError:
        return SourceOutcome(link.source, "timeout", withheld=withheld, problem="upstream-timeout")
    except (CircuitOpen, UpstreamFailure, RequestTooLarge) as exc:
        return SourceOutcome(link.source, "failed", withheld=withheld, problem=exc.problem_type)
    except InvalidSubject:
        return SourceOutcome(link.source, "failed", withheld=withheld, problem="invalid-identifier")
    if fetched.result is None:
        return SourceOutcome(link.source, "not-found", withheld=withheld)
    result: FilterResult = fetched.result
    if not result.released_categories:
        return SourceOutcome(link.source, "withheld", withheld=withheld, unmapped_withheld=len(result.unmapped))
    return SourceOutcome(
        link.source,
        "released",
        released=result.released_categories,
        withheld=withheld,
        unmapped_withheld=len(result.unmapped),
        document=result.document,
    )


async def read_profile(
    flow: ProfileFlow, principal: ClientPrincipal, identifier: str, purpose: str | None
) -> ProfileOutcome:
    """Decide, fetch in parallel, filter and record one read across every linked source; raises `Problem` when
    nothing may be released (the refusal recorded too)."""
    if purpose and purpose not in principal.allowed_purposes:
        raise await _refuse_purpose(flow, principal, identifier, purpose)
    purpose = require_purpose(principal, purpose)
    customer, links = await run_in_threadpool(_customer, flow, identifier)
    decided: dict[str, Any] = {}
    outcomes: dict[str, SourceOutcome] = {}
    for link in links:
        failed, decision = await _decide(flow, principal, customer, link.source, purpose)
        if failed is not None:
            outcomes[link.source] = failed
        else:
            decided[link.source] = decision
    fetches = [_fetch(flow, link, decided[link.source]) for link in links if link.source in decided]
    for outcome in await asyncio.gather(*fetches):
        outcomes[outcome.source] = outcome
    ordered = tuple(outcomes[link.source] for link in links)
    versions = {d.matrix_version for d in decided.values()}
    matrix_version = max(versions) if versions else 0
    return await _record(flow, principal, customer, purpose, ordered, matrix_version)


async def _refuse_purpose(flow: ProfileFlow, principal: ClientPrincipal, identifier: str, purpose: str) -> Problem:
    """As the proxy's: the customer the identifier names is the subject (they see the attempt), the client when
    it names no one; the answer is the same either way."""
    try:
        customer, links = await run_in_threadpool(_customer, flow, identifier)
        subject, sources = flow.access.pseudonyms(customer.customer_id), ", ".join(link.source for link in links)
    except Problem:
        subject, sources = principal.actor, ""
    event = purpose_refusal(
        principal.actor, subject, principal.organization, principal.client_id, purpose, upstream=sources
    )
    return purpose_not_allowed(purpose, await append_access(flow.access, event))


async def _record(
    flow: ProfileFlow,
    principal: ClientPrincipal,
    customer: CustomerPrincipal,
    purpose: str,
    sources: Sequence[SourceOutcome],
    matrix_version: int,
) -> ProfileOutcome:
    released = sorted({c for s in sources for c in s.released})
    withheld: dict[str, list[str]] = {}
    for source in sources:
        for category, reasons in source.withheld.items():
            withheld.setdefault(category, reasons)
    offer = flow.access.policies.taxonomy.purpose(purpose).value_offer
    points = offer.points_per_use if offer is not None and released else 0
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "recipient": principal.organization,
        "client_id": principal.client_id,
        "purpose": purpose,
        "upstream": ", ".join(s.source for s in sources),
        "outcome": "released" if released else "refused",
        "released": released,
        "withheld": withheld,
        "sources": {s.source: s.summary() for s in sources},
        "matrix_version": matrix_version,
    }
    if points:
        payload["points"] = points
    event = Event(PROFILE_EVENT, principal.actor, flow.access.pseudonyms(customer.customer_id), payload, now)
    effects = accrual_effect(customer.customer_id, purpose, principal.organization, points, now) if points else None
    index = await append_access(flow.access, event, effects)
    outcome = ProfileOutcome(index, purpose, matrix_version, tuple(sources), points)
    if not released:
        failed = [s.source for s in sources if s.status in ("failed", "timeout", "decision-failed")]
        summaries = {s.source: s.summary() for s in sources}
        headers = {"Consentry-Ledger-Index": str(index)}
        if failed:
            raise Problem(
                502,
                "profile-unavailable",
                f"No source could release anything; failed: {', '.join(failed)}.",
                headers=headers,
                sources=summaries,
                ledger_index=index,
            )
        raise Problem(
            403,
            "access-refused",
            "No category of this customer's profile may be released to you for this purpose.",
            headers=headers,
            withheld=withheld,
            sources=summaries,
            ledger_index=index,
        )
    return outcome
