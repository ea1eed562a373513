"""Requests forwarded to source systems in the background, one runner at a time: erasure and rectification.

A request row carries a lease (`lease_until`, `lease_owner`); one row per source system carries that source's
progress. A runner claims the lease with a conditional update (so two runners are exclusive), renews it before
each source and in the same transaction as each source's progress, and every write it makes is fenced by the
lease: a runner that outlived its lease raises `LeaseLost` and writes nothing more. Each gateway process sweeps
for requests whose lease ran out, so an acknowledged request is carried on after a restart or a crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, or_, select, update

__all__ = ["OPEN", "Lease", "LeaseLost", "LeasedRequests", "customer_request", "customer_requests"]

OPEN = frozenset({"pending", "in_progress", "failed"})


class LeaseLost(Exception):
    """Another runner took the request over (this one outlived its lease): stop without writing anything more."""


@dataclass(frozen=True)
class Lease:
    request_id: str
    owner: str


@dataclass(frozen=True)
class LeasedRequests:
    """One kind of forwarded request: its request table and per-source table (both keyed by `request_id`,
    the sources also by `source`), and how long a lease lasts."""

    engine: Engine
    requests: Table
    sources: Table
    lease_seconds: float

    def _free(self, now: datetime) -> Any:
        return or_(self.requests.c.lease_until.is_(None), self.requests.c.lease_until < now)

    def _mine(self, lease: Lease) -> Any:
        return and_(
            self.requests.c.request_id == lease.request_id,
            self.requests.c.lease_owner == lease.owner,
            self.requests.c.status == "in_progress",
        )

    def claim(self, request_id: str) -> Lease | None:
        """Take the request's lease if nobody holds it; the conditional update makes two runners exclusive."""
        now = datetime.now(UTC)
        lease = Lease(request_id, str(uuid.uuid4()))
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(self.requests)
                .where(
                    and_(
                        self.requests.c.request_id == request_id,
                        self.requests.c.status.in_(OPEN),
                        self._free(now),
                    )
                )
                .values(
                    status="in_progress",
                    lease_owner=lease.owner,
                    lease_until=now + timedelta(seconds=self.lease_seconds),
                )
            )
        return lease if claimed.rowcount == 1 else None

    def hold(self, conn: Connection, lease: Lease, *, extra: float = 0.0) -> None:
        """Renew the lease for another period (plus `extra`), or raise `LeaseLost` if it is no longer ours."""
        until = datetime.now(UTC) + timedelta(seconds=self.lease_seconds + extra)
        if conn.execute(update(self.requests).where(self._mine(lease)).values(lease_until=until)).rowcount != 1:
            raise LeaseLost(lease.request_id)

    def renew(self, lease: Lease, *, extra: float = 0.0) -> None:
        with self.engine.begin() as conn:
            self.hold(conn, lease, extra=extra)

    def update_source(self, lease: Lease, source: str, *, hold_extra: float = 0.0, **values: Any) -> None:
        """Record a source's progress, renewing the lease in the same transaction (for `hold_extra` more seconds
        when a wait follows)."""
        with self.engine.begin() as conn:
            self.hold(conn, lease, extra=hold_extra)
            conn.execute(
                update(self.sources)
                .where(and_(self.sources.c.request_id == lease.request_id, self.sources.c.source == source))
                .values(updated_at=datetime.now(UTC), **values)
            )

    def end(self, lease: Lease, **values: Any) -> None:
        """The runner's last write: the outcome, and the lease given up, only if it is still ours."""
        with self.engine.begin() as conn:
            ended = conn.execute(
                update(self.requests).where(self._mine(lease)).values(lease_until=None, lease_owner=None, **values)
            )
        if ended.rowcount != 1:
            raise LeaseLost(lease.request_id)

    def release(self, lease: Lease) -> None:
        """Give the lease up without an outcome (the server stops), so the next start resumes at once."""
        with self.engine.begin() as conn:
            conn.execute(update(self.requests).where(self._mine(lease)).values(lease_until=None, lease_owner=None))

    def resumable(self) -> list[tuple[str, str]]:
        """(request id, customer id) of acknowledged requests no runner owns: interrupted, or never started."""
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(self.requests.c.request_id, self.requests.c.customer_id)
                .where(and_(self.requests.c.status.in_(("pending", "in_progress")), self._free(now)))
                .order_by(self.requests.c.created_at)
            ).all()
        return [(str(r[0]), str(r[1])) for r in rows]


Status = Callable[[Connection, str], "dict[str, Any] | None"]


def customer_request(engine: Engine, status: Status, customer_id: str, request_id: str) -> dict[str, Any] | None:
    """One request as its customer sees it (None when it is not theirs: the caller answers 404 either way, so
    whether another customer's id exists is not revealed)."""
    with engine.connect() as conn:
        found = status(conn, request_id)
    if found is None or found.pop("customer_id") != customer_id:
        return None
    return found


def customer_requests(engine: Engine, table: Table, status: Status, customer_id: str) -> list[dict[str, Any]]:
    """The customer's requests in `table`, newest first, each as `status` shows it."""
    with engine.connect() as conn:
        ids = conn.execute(
            select(table.c.request_id).where(table.c.customer_id == customer_id).order_by(table.c.created_at.desc())
        ).scalars()
        found = [status(conn, i) for i in ids]
    return [{k: v for k, v in s.items() if k != "customer_id"} for s in found if s is not None]
