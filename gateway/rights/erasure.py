"""GDPR Art. 17 erasure: recorded in the ledger, forwarded to every source system that can delete, tracked per source.

`request_erasure` appends the request to the ledger and, in the same transaction, one `pending` row per erasable
source. `process_erasure` (run in the background) forwards the deletion to each source with retries and keeps
each source's status; once every source has erased (or never had) the record, it withdraws the customer's live
consents (revoking their receipts), deletes the subject's ZK commitment openings and the sealed key of their
custodial DID, and erases the subject's ledger payloads (`Ledger.erase_subject`), which keeps every proof valid.
A request with a source that kept failing stays `failed` until it is requested again, which resumes the sources
not yet done.

Consent records themselves are kept: they are the controller's evidence (GDPR Art. 7(1)) and hold no payload
in the ledger after the erasure.

One runner at a time owns a request through a lease on its row (`rights.leases`, renewed before each source).
Each gateway process sweeps for `pending` or `in_progress` requests whose lease ran out, at start-up and then
every lease period, so an erasure acknowledged before a restart or a crash is carried on without being asked
again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, and_, insert, select
from starlette.concurrency import run_in_threadpool

from credentials import CredentialService
from gateway.analytics import Contributions
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.customers import CustomerStore
from gateway.auth.identity_index import IdentityIndex
from gateway.auth.principals import CustomerPrincipal
from gateway.events.changes import erasure_change, outbox_effect
from gateway.rights import consents
from gateway.rights.errors import NotFoundError
from gateway.rights.leases import OPEN, Lease, LeasedRequests, LeaseLost, customer_request, customer_requests
from gateway.rights.rfc3339 import rfc3339
from gateway.settings import Settings
from gateway.store.customer_tables import erasure_requests, erasure_sources
from gateway.upstream import InvalidSubject, UpstreamFailure, UpstreamRegistry
from gateway.zk.anchors import AnchorStore
from ledger import Event
from ledger.store import Ledger
from policies import PolicyRuntime

ERASURE_REQUEST_EVENT = "erasure.requested"
DONE = frozenset({"erased", "already-absent"})


@dataclass(frozen=True)
class Erasures:
    """What an erasure touches: its own rows, every source system, the consents and their receipts, the ZK
    openings, the custodial DID key and the ledger's payloads; `settings` gives the lease and retry timing."""

    engine: Engine
    ledger: Ledger
    upstreams: UpstreamRegistry
    customers: CustomerStore
    policies: PolicyRuntime
    credentials: CredentialService
    anchors: AnchorStore
    pseudonyms: Pseudonyms
    settings: Settings
    identities: IdentityIndex


def _identifiers(erasures: Erasures, customer: CustomerPrincipal) -> dict[str, str]:
    """What each erasable source calls the customer: its identifier in the unified index, else the customer
    number sources share (`source_subject`)."""
    linked = {link.source: link.identifier for link in erasures.identities.links(customer.customer_id)}
    return {
        source: name
        for source in erasures.upstreams.erasable()
        if (name := linked.get(source, customer.source_subject)) is not None
    }


def _status(conn: Connection, request_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(erasure_requests).where(erasure_requests.c.request_id == request_id)).mappings().first()
    if row is None:
        return None
    sources = (
        conn.execute(
            select(erasure_sources).where(erasure_sources.c.request_id == request_id).order_by(erasure_sources.c.source)
        )
        .mappings()
        .all()
    )
    return {
        "request_id": row["request_id"],
        "customer_id": row["customer_id"],
        "status": row["status"],
        "created_at": rfc3339(row["created_at"]),
        "completed_at": rfc3339(row["completed_at"]),
        "ledger_index": row["ledger_index"],
        "ledger_erasure_index": row["ledger_erasure_index"],
        "sources": [
            {
                "source": s["source"],
                "status": s["status"],
                "attempts": s["attempts"],
                "upstream_status": s["upstream_status"],
                "last_error": s["last_error"],
                "updated_at": rfc3339(s["updated_at"]),
            }
            for s in sources
        ],
    }


def erasure_status(erasures: Erasures, customer: CustomerPrincipal, request_id: str) -> dict[str, Any]:
    status = customer_request(erasures.engine, _status, customer.customer_id, request_id)
    if status is None:
        raise NotFoundError("erasure request")
    return status


def list_erasures(erasures: Erasures, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    return customer_requests(erasures.engine, erasure_requests, _status, customer.customer_id)


def request_erasure(erasures: Erasures, customer: CustomerPrincipal) -> dict[str, Any]:
    """Record the request (or return the open one, to be resumed); the caller then runs `process_erasure`."""
    with erasures.engine.connect() as conn:
        open_id = conn.execute(
            select(erasure_requests.c.request_id).where(
                and_(erasure_requests.c.customer_id == customer.customer_id, erasure_requests.c.status.in_(OPEN))
            )
        ).scalar()
    if open_id is not None:
        return erasure_status(erasures, customer, open_id)
    request_id = str(uuid.uuid4())
    sources = tuple(_identifiers(erasures, customer))
    now = datetime.now(UTC)

    def record(conn: Connection, index: int) -> None:
        conn.execute(
            insert(erasure_requests).values(
                request_id=request_id,
                customer_id=customer.customer_id,
                ledger_index=index,
                status="pending",
                created_at=now,
            )
        )
        if sources:
            conn.execute(
                insert(erasure_sources),
                [
                    {"request_id": request_id, "source": s, "status": "pending", "attempts": 0, "updated_at": now}
                    for s in sources
                ],
            )

    # Every recipient any of the customer's consents named is told, from the request's own transaction.
    change = erasure_change(
        erasures.policies.taxonomy, customer.customer_id, request_id, consents.records(erasures.policies, customer)
    )
    erasures.ledger.append(
        Event(
            type=ERASURE_REQUEST_EVENT,
            actor=customer.actor,
            subject=erasures.pseudonyms(customer.customer_id),
            payload={"request_id": request_id, "sources": list(sources)},
            time=now,
        ),
        effects=outbox_effect(change, record),
    )
    return erasure_status(erasures, customer, request_id)


def _queue(erasures: Erasures) -> LeasedRequests:
    return LeasedRequests(erasures.engine, erasure_requests, erasure_sources, erasures.settings.erasure_lease_seconds)


def _claim(erasures: Erasures, request_id: str) -> Lease | None:
    return _queue(erasures).claim(request_id)


def _renew(erasures: Erasures, lease: Lease, *, extra: float = 0.0) -> None:
    _queue(erasures).renew(lease, extra=extra)


def _update_source(erasures: Erasures, lease: Lease, source: str, *, hold_extra: float = 0.0, **values: Any) -> None:
    _queue(erasures).update_source(lease, source, hold_extra=hold_extra, **values)


def _end(erasures: Erasures, lease: Lease, **values: Any) -> None:
    _queue(erasures).end(lease, **values)


def _release(erasures: Erasures, lease: Lease) -> None:
    _queue(erasures).release(lease)


def resumable(erasures: Erasures) -> list[tuple[str, str]]:
    """(request id, customer id) of acknowledged erasures no runner owns: interrupted, or never started."""
    return _queue(erasures).resumable()


async def _erase_at_source(
    erasures: Erasures,
    lease: Lease,
    source: str,
    subject: str,
    attempts_before: int,
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], Awaitable[None]],
) -> bool:
    for attempt in range(1, attempts + 1):
        await run_in_threadpool(_renew, erasures, lease)
        try:
            outcome = await erasures.upstreams.client(source).erase(subject)
        except (UpstreamFailure, InvalidSubject) as exc:
            final = attempt == attempts
            delay = 0.0 if final else backoff * 2 ** (attempt - 1)
            await run_in_threadpool(
                _update_source,
                erasures,
                lease,
                source,
                hold_extra=delay,  # the wait must not lose the lease
                status="failed" if final else "pending",
                attempts=attempts_before + attempt,
                last_error=str(exc)[:500],
                upstream_status=getattr(exc, "status_code", None) if isinstance(exc, UpstreamFailure) else None,
            )
            if final:
                return False
            await sleep(delay)
            continue
        await run_in_threadpool(
            _update_source,
            erasures,
            lease,
            source,
            status=outcome.status,
            attempts=attempts_before + attempt,
            upstream_status=outcome.upstream_status,
            last_error=None,
        )
        return True
    return False


def _finish(erasures: Erasures, customer: CustomerPrincipal, lease: Lease) -> None:
    """Every source is done: stop processing (withdraw live consents), then forget the ledger payloads."""
    _renew(erasures, lease)
    for record in consents.records(erasures.policies, customer):
        if record.status.value in ("given", "renewed"):
            consents.withdraw(erasures.policies, erasures.credentials, customer, record.record_id)
    # The gateway's copy of the customer's custodial DID key goes too; the DID stays (it names their receipts).
    erasures.customers.forget_custodial_key(customer.customer_id)
    # The identifiers source systems know the customer by are personal data too; their sources have erased.
    erasures.identities.forget(customer.customer_id)
    # The account id names the subject in consents and accesses; source systems' number may name it in ZK anchors.
    names = dict.fromkeys(n for n in (customer.customer_id, customer.source_subject) if n is not None)
    index = None
    for name in names:
        subject = erasures.pseudonyms(name)
        erasures.anchors.forget(subject)  # without the sealed openings nothing more can be proved about them
        Contributions(erasures.engine).forget(subject)  # which aggregates counted them: gone with the rest
        index = erasures.ledger.erase_subject(subject, actor=customer.actor)
    _end(erasures, lease, status="completed", completed_at=datetime.now(UTC), ledger_erasure_index=index)


async def process_erasure(
    erasures: Erasures,
    customer: CustomerPrincipal,
    request_id: str,
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    """Forward the erasure to every source not yet done, then finish; returns the final status.

    When another runner holds the request's lease, this one leaves it alone and returns the status as it is.
    Every write is fenced by the lease (`LeaseLost` when another runner took over). Cancelled, the runner gives
    the lease back, except while finishing: that work goes on in its thread, so the lease is left to expire.
    """
    status = await run_in_threadpool(erasure_status, erasures, customer, request_id)
    lease = None if status["status"] == "completed" else await run_in_threadpool(_claim, erasures, request_id)
    if lease is None:
        return status
    # Plan from the state under the lease: a runner that ended between the read above and the claim may have
    # erased sources since, and they must not be asked again nor their attempts counted back.
    status = await run_in_threadpool(erasure_status, erasures, customer, request_id)
    finishing = False
    identifiers = await run_in_threadpool(_identifiers, erasures, customer)
    try:
        ok = True
        for source in status["sources"]:
            if source["status"] in DONE:
                continue
            ok = (
                await _erase_at_source(
                    erasures,
                    lease,
                    source["source"],
                    # a source unlinked since the request: its subject no longer resolves, so it fails visibly
                    identifiers.get(source["source"], ""),
                    source["attempts"],
                    attempts=attempts,
                    backoff=backoff,
                    sleep=sleep,
                )
                and ok
            )
        finishing = ok
        if ok:
            await run_in_threadpool(_finish, erasures, customer, lease)
        else:
            await run_in_threadpool(_end, erasures, lease, status="failed")
    except asyncio.CancelledError:
        if not finishing:
            await run_in_threadpool(_release, erasures, lease)
        raise
    return await run_in_threadpool(erasure_status, erasures, customer, request_id)


_RUNNING: dict[asyncio.Task[None], Erasures] = {}
_log = structlog.get_logger("gateway.erasure")


def start_erasure(erasures: Erasures, customer: CustomerPrincipal, request_id: str) -> None:
    """Run `process_erasure` in the background; the API and the portal both answer before sources are done.

    Tasks are kept referenced until they finish, because the event loop holds only weak references.
    """

    async def run() -> None:
        try:
            await process_erasure(
                erasures,
                customer,
                request_id,
                attempts=erasures.settings.erasure_attempts,
                backoff=erasures.settings.erasure_backoff_seconds,
            )
        except LeaseLost:  # this runner outlived its lease and another took over: it has stopped writing
            _log.warning("erasure_lease_lost", request_id=request_id)
        except Exception:  # the status stays visible (in_progress/failed); requesting again resumes
            _log.exception("erasure_failed", request_id=request_id)

    task = asyncio.get_running_loop().create_task(run())
    _RUNNING[task] = erasures
    task.add_done_callback(lambda done: _RUNNING.pop(done, None))


async def stop_erasures(erasures: Erasures) -> None:
    """Cancel the runners this gateway started on its database (at shutdown); each gives its lease back on the way
    out. A runtime builds its `Erasures` afresh when asked, so runners are known by the engine they write with."""
    mine = [task for task, owner in _RUNNING.items() if owner.engine is erasures.engine]
    for task in mine:
        task.cancel()
    await asyncio.gather(*mine, return_exceptions=True)


async def resume_erasures(erasures: Erasures) -> int:
    """Start a runner for every erasure nobody owns; returns how many were started."""
    started = 0
    for request_id, customer_id in await run_in_threadpool(resumable, erasures):
        customer = await run_in_threadpool(erasures.customers.get, customer_id)
        if customer is not None:
            start_erasure(erasures, customer, request_id)
            started += 1
    return started


async def sweep_erasures(erasures: Erasures) -> None:
    """Resume unowned erasures now and every lease period, for as long as the server runs."""
    while True:
        try:
            resumed = await resume_erasures(erasures)
            if resumed:
                _log.info("erasures_resumed", count=resumed)
        except Exception:  # a failed sweep (database down) is retried at the next period
            _log.exception("erasure_sweep_failed")
        await asyncio.sleep(erasures.settings.erasure_lease_seconds)
