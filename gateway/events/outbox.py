"""Delivering change events: at least once, with retries and backoff, in order per customer, across restarts.

The outbox is two tables (`gw_change_events`, `gw_event_deliveries`) written in the ledger transaction of each
change (`gateway.events.changes`). Every gateway process drains it: it picks deliveries that are due and at the
head of their queue (one queue per webhook and customer: a delivery waits until every earlier one of its queue was
delivered), claims each with a conditional UPDATE that sets a lease, posts the signed event, and records the
outcome only while it still holds the lease. Two processes therefore never post the same delivery at once; a
process killed mid-delivery leaves a lease that runs out, after which any process posts the event again with the
same id (at least once: recipients deduplicate by `id`). Failures wait `backoff · 2^(attempts-1)`, capped.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine, and_, exists, or_, select, update
from sqlalchemy.orm import aliased
from starlette.concurrency import run_in_threadpool

from gateway.events.destinations import PublicOnlyTransport
from gateway.events.signing import EVENT_ID_HEADER, EventSigner
from gateway.settings import Settings
from gateway.store.federation_tables import change_events, event_deliveries, webhooks

__all__ = ["Delivery", "Outbox", "drain_once", "run_outbox"]

_log = structlog.get_logger("gateway.events")
_BATCH = 50
_PARALLEL = 8


@dataclass(frozen=True)
class Delivery:
    event_seq: int
    webhook_id: str
    owner: str


@dataclass(frozen=True)
class Outbox:
    """What draining needs: the database, the signer, and the lease, backoff and timeout settings."""

    engine: Engine
    signer: EventSigner
    settings: Settings


def _head_of_queue(now: datetime) -> Any:
    """Due, unleased, and no earlier delivery of its queue still pending: the conditions a claim re-checks."""
    earlier = aliased(event_deliveries)
    d = event_deliveries.c
    return and_(
        d.status == "pending",
        d.next_attempt_at <= now,
        or_(d.lease_until.is_(None), d.lease_until < now),
        d.webhook_id.in_(select(webhooks.c.webhook_id).where(webhooks.c.disabled_at.is_(None))),
        ~exists().where(
            and_(
                earlier.c.webhook_id == d.webhook_id,
                earlier.c.customer_id == d.customer_id,
                earlier.c.event_seq < d.event_seq,
                earlier.c.status == "pending",
            )
        ),
    )


def _due(outbox: Outbox) -> list[tuple[int, str]]:
    now = datetime.now(UTC)
    with outbox.engine.connect() as conn:
        rows = conn.execute(
            select(event_deliveries.c.event_seq, event_deliveries.c.webhook_id)
            .where(_head_of_queue(now))
            .order_by(event_deliveries.c.event_seq)
            .limit(_BATCH)
        ).all()
    return [(int(r[0]), str(r[1])) for r in rows]


def _claim(outbox: Outbox, event_seq: int, webhook_id: str) -> Delivery | None:
    """Take the delivery's lease if it is still due and at the head of its queue; exclusive across processes."""
    now = datetime.now(UTC)
    owner = str(uuid.uuid4())
    d = event_deliveries.c
    with outbox.engine.begin() as conn:
        claimed = conn.execute(
            update(event_deliveries)
            .where(and_(d.event_seq == event_seq, d.webhook_id == webhook_id, _head_of_queue(now)))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=outbox.settings.events_lease_seconds))
        )
    return Delivery(event_seq, webhook_id, owner) if claimed.rowcount == 1 else None


def _mine(delivery: Delivery) -> Any:
    d = event_deliveries.c
    return and_(
        d.event_seq == delivery.event_seq,
        d.webhook_id == delivery.webhook_id,
        d.lease_owner == delivery.owner,
        d.status == "pending",
    )


def _load(outbox: Outbox, delivery: Delivery) -> tuple[str, str, bytes, int]:
    with outbox.engine.connect() as conn:
        row = conn.execute(
            select(change_events.c.event_id, webhooks.c.url, change_events.c.body, event_deliveries.c.attempts)
            .select_from(
                event_deliveries.join(change_events, change_events.c.seq == event_deliveries.c.event_seq).join(
                    webhooks, webhooks.c.webhook_id == event_deliveries.c.webhook_id
                )
            )
            .where(_mine(delivery))
        ).one()
    return str(row[0]), str(row[1]), str(row[2]).encode(), int(row[3])


def _delivered(outbox: Outbox, delivery: Delivery, status: int) -> bool:
    with outbox.engine.begin() as conn:
        done = conn.execute(
            update(event_deliveries)
            .where(_mine(delivery))
            .values(
                status="delivered",
                attempts=event_deliveries.c.attempts + 1,
                delivered_at=datetime.now(UTC),
                last_status=status,
                last_error=None,
                lease_owner=None,
                lease_until=None,
            )
        )
    return done.rowcount == 1


def _failed(outbox: Outbox, delivery: Delivery, attempts: int, status: int | None, error: str) -> None:
    settings = outbox.settings
    wait = min(settings.events_backoff_seconds * 2 ** max(0, attempts - 1), settings.events_backoff_max_seconds)
    with outbox.engine.begin() as conn:
        conn.execute(
            update(event_deliveries)
            .where(_mine(delivery))
            .values(
                attempts=attempts,
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=wait),
                last_status=status,
                last_error=error[:500],
                lease_owner=None,
                lease_until=None,
            )
        )


async def _deliver(outbox: Outbox, http: httpx.AsyncClient, delivery: Delivery) -> bool:
    event_id, url, body, attempts = await run_in_threadpool(_load, outbox, delivery)
    request = http.build_request(
        "POST", url, content=body, headers={"Content-Type": "application/json", EVENT_ID_HEADER: event_id}
    )
    outbox.signer.sign(request, body)
    try:
        response = await http.send(request)
    except httpx.HTTPError as exc:
        await run_in_threadpool(_failed, outbox, delivery, attempts + 1, None, f"{type(exc).__name__}: {exc}")
        return False
    if 200 <= response.status_code < 300:
        return await run_in_threadpool(_delivered, outbox, delivery, response.status_code)
    await run_in_threadpool(
        _failed, outbox, delivery, attempts + 1, response.status_code, f"the recipient answered {response.status_code}"
    )
    return False


async def drain_once(outbox: Outbox, http: httpx.AsyncClient) -> int:
    """Deliver what is due now (a bounded batch, a few queues at a time); returns how many were delivered."""
    delivered = 0
    gate = asyncio.Semaphore(_PARALLEL)

    async def one(event_seq: int, webhook_id: str) -> None:
        nonlocal delivered
        async with gate:
            delivery = await run_in_threadpool(_claim, outbox, event_seq, webhook_id)
            if delivery is not None and await _deliver(outbox, http, delivery):
                delivered += 1

    await asyncio.gather(*(one(seq, hook) for seq, hook in await run_in_threadpool(_due, outbox)))
    return delivered


async def run_outbox(outbox: Outbox) -> None:
    """Drain for as long as the server runs: right after each batch that delivered, else every poll period."""
    timeout = httpx.Timeout(outbox.settings.events_timeout_seconds)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    if not outbox.settings.events_private_addresses:
        transport = PublicOnlyTransport(transport)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport) as http:
        while True:
            try:
                if await drain_once(outbox, http):
                    continue
            except Exception:  # a failed pass (database down) is retried at the next period
                _log.exception("outbox_drain_failed")
            await asyncio.sleep(outbox.settings.events_poll_seconds)
