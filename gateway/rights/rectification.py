"""GDPR Art. 16 / PIPL Art. 46 rectification: the customer corrects a field, each source system holding it is told.

`request_rectification` checks the category and the value, appends the request to the ledger (the category and
the sources, never the value: the ledger outlives the data) and, in the same transaction, one `pending` row per
source system whose record holds the category. `process_rectification` (run in the background) forwards the
correction to each source as a JSON Merge Patch, with the erasure's lease, retries and per-source status
(`rights.leases`); when every source is done it records the outcome in the ledger and clears the stored value,
which only the source systems keep from then on. A source that holds no record of the customer is `not-held`.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select
from starlette.concurrency import run_in_threadpool

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.events.changes import outbox_effect, rectification_change
from gateway.rights.errors import InvalidRectification, NotFoundError
from gateway.rights.leases import Lease, LeasedRequests, LeaseLost, customer_request, customer_requests
from gateway.rights.rfc3339 import rfc3339
from gateway.settings import Settings
from gateway.store.customer_tables import rectification_requests, rectification_sources
from gateway.upstream import InvalidSubject, UpstreamFailure, UpstreamRegistry
from ledger import Event
from ledger.store import Ledger
from policies import PolicyRuntime

__all__ = [
    "MAX_VALUE",
    "RECTIFICATION_COMPLETED_EVENT",
    "RECTIFICATION_REQUEST_EVENT",
    "Rectifications",
    "list_rectifications",
    "process_rectification",
    "rectifiable_categories",
    "rectification_status",
    "request_rectification",
    "start_rectification",
    "stop_rectifications",
    "sweep_rectifications",
]

RECTIFICATION_REQUEST_EVENT = "rectification.requested"
RECTIFICATION_COMPLETED_EVENT = "rectification.completed"
DONE = frozenset({"rectified", "not-held"})
MAX_VALUE = 200
# What a corrected value must look like, per category; any other category takes one line of printable text.
_FORMATS = {
    "contact.phone": re.compile(r"\+?[0-9][0-9 ()\-]{4,30}"),
    "contact.email": re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}"),
}
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Rectifications:
    """What a rectification touches: its own rows, the source systems, the ledger; `settings` gives the lease
    and retry timing (the erasure's)."""

    engine: Engine
    ledger: Ledger
    upstreams: UpstreamRegistry
    customers: CustomerStore
    pseudonyms: Pseudonyms
    settings: Settings
    policies: PolicyRuntime  # whose consents name the recipients to tell (GDPR Art. 19)

    @property
    def queue(self) -> LeasedRequests:
        return LeasedRequests(
            self.engine, rectification_requests, rectification_sources, self.settings.erasure_lease_seconds
        )


def rectifiable_categories(rectifications: Rectifications, customer: CustomerPrincipal) -> tuple[str, ...]:
    """The categories this customer can correct: those a source system lets be corrected, if a source holds them."""
    return rectifications.upstreams.rectifiable_categories() if customer.source_subject is not None else ()


def _status(conn: Connection, request_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(select(rectification_requests).where(rectification_requests.c.request_id == request_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    sources = (
        conn.execute(
            select(rectification_sources)
            .where(rectification_sources.c.request_id == request_id)
            .order_by(rectification_sources.c.source)
        )
        .mappings()
        .all()
    )
    return {
        "request_id": row["request_id"],
        "customer_id": row["customer_id"],
        "category": row["category"],
        "status": row["status"],
        "created_at": rfc3339(row["created_at"]),
        "completed_at": rfc3339(row["completed_at"]),
        "ledger_index": row["ledger_index"],
        "ledger_completion_index": row["ledger_completion_index"],
        "sources": [
            {
                "source": s["source"],
                "field": s["field"],
                "status": s["status"],
                "attempts": s["attempts"],
                "upstream_status": s["upstream_status"],
                "last_error": s["last_error"],
                "updated_at": rfc3339(s["updated_at"]),
            }
            for s in sources
        ],
    }


def rectification_status(
    rectifications: Rectifications, customer: CustomerPrincipal, request_id: str
) -> dict[str, Any]:
    status = customer_request(rectifications.engine, _status, customer.customer_id, request_id)
    if status is None:
        raise NotFoundError("rectification request")
    return status


def list_rectifications(rectifications: Rectifications, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    return customer_requests(rectifications.engine, rectification_requests, _status, customer.customer_id)


def _checked_value(category: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_VALUE or not _PRINTABLE.fullmatch(value):
        raise InvalidRectification(f"The corrected value must be one line of 1 to {MAX_VALUE} printable characters.")
    pattern = _FORMATS.get(category)
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidRectification(f"{value!r} is not a valid value for {category}.")
    return value


def request_rectification(
    rectifications: Rectifications, customer: CustomerPrincipal, category: str, value: str
) -> dict[str, Any]:
    """Record the correction (ledger entry and per-source rows, one transaction); the caller then runs
    `process_rectification`. `InvalidRectification` for a category no source lets be corrected or a bad value."""
    if category not in rectifiable_categories(rectifications, customer):
        raise InvalidRectification(f"{category!r} cannot be corrected through Consentry for this account.")
    value = _checked_value(category, value)
    targets = rectifications.upstreams.rectifiable(category)
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC)

    def record(conn: Connection, index: int) -> None:
        conn.execute(
            insert(rectification_requests).values(
                request_id=request_id,
                customer_id=customer.customer_id,
                category=category,
                value=value,
                ledger_index=index,
                status="pending",
                created_at=now,
            )
        )
        conn.execute(
            insert(rectification_sources),
            [
                {
                    "request_id": request_id,
                    "source": source,
                    "field": pointer,
                    "status": "pending",
                    "attempts": 0,
                    "updated_at": now,
                }
                for source, pointer in targets
            ],
        )

    # Every recipient any of the customer's consents named is told of the correction (never the value), from the
    # request's own transaction: it should read the field again.
    change = rectification_change(
        rectifications.policies.taxonomy,
        customer.customer_id,
        request_id,
        category,
        rectifications.policies.consents.records(customer.customer_id),
    )
    rectifications.ledger.append(
        Event(
            type=RECTIFICATION_REQUEST_EVENT,
            actor=customer.actor,
            subject=rectifications.pseudonyms(customer.customer_id),
            payload={"request_id": request_id, "category": category, "sources": [s for s, _ in targets]},
            time=now,
        ),
        effects=outbox_effect(change, record),
    )
    return rectification_status(rectifications, customer, request_id)


async def _rectify_at_source(
    rectifications: Rectifications,
    lease: Lease,
    source: dict[str, Any],
    subject: str,
    value: str,
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], Awaitable[None]],
) -> bool:
    queue = rectifications.queue
    for attempt in range(1, attempts + 1):
        await run_in_threadpool(queue.renew, lease)
        try:
            outcome = await rectifications.upstreams.client(source["source"]).rectify(subject, source["field"], value)
        except (UpstreamFailure, InvalidSubject) as exc:
            final = attempt == attempts
            delay = 0.0 if final else backoff * 2 ** (attempt - 1)
            await run_in_threadpool(
                partial(
                    queue.update_source,
                    lease,
                    source["source"],
                    hold_extra=delay,  # the wait must not lose the lease
                    status="failed" if final else "pending",
                    attempts=source["attempts"] + attempt,
                    last_error=str(exc)[:500],
                    upstream_status=getattr(exc, "status_code", None) if isinstance(exc, UpstreamFailure) else None,
                )
            )
            if final:
                return False
            await sleep(delay)
            continue
        await run_in_threadpool(
            partial(
                queue.update_source,
                lease,
                source["source"],
                status=outcome.status,
                attempts=source["attempts"] + attempt,
                upstream_status=outcome.upstream_status,
                last_error=None,
            )
        )
        return True
    return False


def _finish(rectifications: Rectifications, customer: CustomerPrincipal, lease: Lease) -> None:
    """Every source is done: record each source's outcome in the ledger and forget the value, in one transaction
    fenced by the lease."""
    status = rectification_status(rectifications, customer, lease.request_id)
    now = datetime.now(UTC)
    queue = rectifications.queue

    def end(conn: Connection, index: int) -> None:
        queue.hold(conn, lease)
        conn.execute(
            rectification_requests.update()
            .where(rectification_requests.c.request_id == lease.request_id)
            .values(
                status="completed",
                completed_at=now,
                value=None,
                ledger_completion_index=index,
                lease_until=None,
                lease_owner=None,
            )
        )

    rectifications.ledger.append(
        Event(
            type=RECTIFICATION_COMPLETED_EVENT,
            actor=customer.actor,
            subject=rectifications.pseudonyms(customer.customer_id),
            payload={
                "request_id": lease.request_id,
                "category": status["category"],
                "sources": {s["source"]: s["status"] for s in status["sources"]},
            },
            time=now,
        ),
        effects=end,
    )


def _value(rectifications: Rectifications, request_id: str) -> str | None:
    with rectifications.engine.connect() as conn:
        value = conn.execute(
            select(rectification_requests.c.value).where(rectification_requests.c.request_id == request_id)
        ).scalar()
    return None if value is None else str(value)


async def process_rectification(
    rectifications: Rectifications,
    customer: CustomerPrincipal,
    request_id: str,
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    """Forward the correction to every source not yet done, then finish; returns the final status. A request
    another runner holds is left alone; every write is fenced by the lease (`LeaseLost`)."""
    queue = rectifications.queue
    status = await run_in_threadpool(rectification_status, rectifications, customer, request_id)
    lease = None if status["status"] == "completed" else await run_in_threadpool(queue.claim, request_id)
    if lease is None:
        return status
    status = await run_in_threadpool(rectification_status, rectifications, customer, request_id)
    try:
        value = await run_in_threadpool(_value, rectifications, request_id)
        ok = True
        for source in status["sources"]:
            if source["status"] in DONE:
                continue
            if customer.source_subject is None or value is None:
                ok = False
                break
            done = await _rectify_at_source(
                rectifications,
                lease,
                source,
                customer.source_subject,
                value,
                attempts=attempts,
                backoff=backoff,
                sleep=sleep,
            )
            ok = done and ok
        if ok:
            await run_in_threadpool(_finish, rectifications, customer, lease)
        else:
            await run_in_threadpool(partial(queue.end, lease, status="failed"))
    except asyncio.CancelledError:
        await run_in_threadpool(queue.release, lease)
        raise
    return await run_in_threadpool(rectification_status, rectifications, customer, request_id)


_RUNNING: dict[asyncio.Task[None], Rectifications] = {}
_log = structlog.get_logger("gateway.rectification")


def start_rectification(rectifications: Rectifications, customer: CustomerPrincipal, request_id: str) -> None:
    """Run `process_rectification` in the background, the task kept referenced until it finishes."""

    async def run() -> None:
        try:
            await process_rectification(
                rectifications,
                customer,
                request_id,
                attempts=rectifications.settings.erasure_attempts,
                backoff=rectifications.settings.erasure_backoff_seconds,
            )
        except LeaseLost:
            _log.warning("rectification_lease_lost", request_id=request_id)
        except Exception:  # the status stays visible (in_progress/failed); the sweep resumes it
            _log.exception("rectification_failed", request_id=request_id)

    task = asyncio.get_running_loop().create_task(run())
    _RUNNING[task] = rectifications
    task.add_done_callback(lambda done: _RUNNING.pop(done, None))


async def stop_rectifications(rectifications: Rectifications) -> None:
    """Cancel the runners this gateway started on its database (at shutdown); each gives its lease back."""
    mine = [task for task, owner in _RUNNING.items() if owner.engine is rectifications.engine]
    for task in mine:
        task.cancel()
    await asyncio.gather(*mine, return_exceptions=True)


async def sweep_rectifications(rectifications: Rectifications) -> None:
    """Resume unowned rectifications now and every lease period, for as long as the server runs."""
    while True:
        try:
            for request_id, customer_id in await run_in_threadpool(rectifications.queue.resumable):
                customer = await run_in_threadpool(rectifications.customers.get, customer_id)
                if customer is not None:
                    start_rectification(rectifications, customer, request_id)
        except Exception:  # a failed sweep (database down) is retried at the next period
            _log.exception("rectification_sweep_failed")
        await asyncio.sleep(rectifications.settings.erasure_lease_seconds)
