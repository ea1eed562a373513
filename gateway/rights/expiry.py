"""Time-limited consent lapses on its own: a sweep records every consent past its end date as expired.

The decision engine already refuses a consent from the instant its `valid_until` passes (`status_at`); the sweep
makes that lapse a ledger entry (`consent.expired`, actor `system:expiry`) so the customer's history, receipts page
and an auditor see when it ended, without anyone having to act.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from policies import ConsentError, PolicyRuntime

EXPIRY_ACTOR = "system:expiry"
_log = structlog.get_logger("gateway.rights.expiry")


def lapse_expired(policies: PolicyRuntime, *, at: datetime | None = None, limit: int = 500) -> int:
    """Record each lapsed consent as expired (bounded per run); how many were recorded."""
    when = at or datetime.now(UTC)
    recorded = 0
    for record_id in policies.consents.lapsed(when, limit):
        try:
            policies.consents.expire(record_id, actor=EXPIRY_ACTOR, at=when)
        except ConsentError:  # withdrawn or renewed by the customer since it was read: nothing lapsed
            continue
        recorded += 1
    return recorded


async def sweep_expiries(policies: PolicyRuntime, interval: float) -> None:
    """Lapse expired consents now and every `interval` seconds, for as long as the server runs."""
    while True:
        try:
            lapsed = await asyncio.to_thread(lapse_expired, policies)
            if lapsed:
                _log.info("consents_expired", count=lapsed)
        except Exception:  # a failed sweep (database down) is retried at the next period
            _log.exception("consent_expiry_sweep_failed")
        await asyncio.sleep(interval)
