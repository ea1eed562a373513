"""The retention enforcer: one run does what `survey` found due, under a lease, each action a ledger entry.

The lease is the one erasure and rectification use (`gateway.rights.leases`: `Lease`, `LeaseLost`, the same
columns), on one named row instead of a row per request: a conditional update claims it, so two processes never
both hold it, and a crashed holder's lease simply runs out for the next sweep to take over. Every
action is fenced by it *inside the action's own ledger transaction* (the lease row is renewed there, or the action
is rejected with `LeaseLost`), so an action either happens under the lease, once, or not at all; and a run plans
only after claiming, from what the previous holder left. Leases run on real time; periods on the `Clock`.

Actions, in order: lapse each consent past its period (`consent.expired`, receipts revoked in the same
transaction); record a deletion request for the categories nothing needs any more (`retention.deletion_requested`,
one pending row per source) and forward every pending one to its source, with per-source status, retried in the
following runs until `retention_deletion_attempts`; erase payloads past their period in batches
(`retention.erasure` through `Ledger.erase_payloads`, the event index forgetting them too); delete the stored
copies of revoked receipts past theirs (`retention.receipts_erased`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gateway.events.changes import CONSENT_EXPIRED, consent_effect
from gateway.retention.plan import Lapse, PayloadExpiry, ReceiptExpiry, Retention, SourceDeletion, Survey, survey
from gateway.rights.leases import Lease, LeaseLost
from gateway.rights.receipts import revoking_effect
from gateway.store.customer_tables import consent_receipts
from gateway.store.retention_tables import retention_deletion_sources, retention_deletions, retention_lease
from gateway.store.tables import ledger_event_index
from gateway.upstream import ErasureNotSupported, InvalidSubject, UpstreamFailure
from ledger import Event
from policies import ConsentError, ConsentRecord

__all__ = [
    "DELETION_EVENT",
    "DELETION_REQUEST_EVENT",
    "ERASURE_EVENT",
    "RECEIPTS_EVENT",
    "RETENTION_ACTOR",
    "RunReport",
    "deletion_status",
    "run_retention",
    "sweep_retention",
]

RETENTION_ACTOR = "system:retention"
LEASE_NAME = "retention"
ERASURE_EVENT = "retention.erasure"
DELETION_REQUEST_EVENT = "retention.deletion_requested"
DELETION_EVENT = "retention.deletion"
RECEIPTS_EVENT = "retention.receipts_erased"

_log = structlog.get_logger("gateway.retention")


@dataclass
class RunReport:
    """What one run did (or, when another process held the lease, that it did nothing)."""

    ran: bool
    at: datetime
    counts: dict[str, Any] = field(default_factory=dict)
    lapsed: list[str] = field(default_factory=list)
    revoked_receipts: list[str] = field(default_factory=list)
    erased_payloads: int = 0
    erasure_entries: list[int] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "at": self.at.isoformat(),
            "counts": self.counts,
            "lapsed": self.lapsed,
            "revoked_receipts": self.revoked_receipts,
            "erased_payloads": self.erased_payloads,
            "erasure_entries": self.erasure_entries,
            "deletions": self.deletions,
        }


# -- the lease (erasure's, on one named row) --------------------------------------------------------------


def _lease_free(now: datetime) -> Any:
    return or_(retention_lease.c.lease_until.is_(None), retention_lease.c.lease_until < now)


def _mine(lease: Lease) -> Any:
    return and_(retention_lease.c.name == lease.request_id, retention_lease.c.lease_owner == lease.owner)


@contextmanager
def _writing(retention: Retention) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock up front (see `ledger.store.Ledger`)."""
    with retention.engine.connect().execution_options(ledger_write=True) as conn, conn.begin():
        yield conn


def _claim(retention: Retention) -> Lease | None:
    now = datetime.now(UTC)
    lease = Lease(LEASE_NAME, str(uuid.uuid4()))
    until = now + timedelta(seconds=retention.settings.retention_lease_seconds)
    with _writing(retention) as conn:
        exists = conn.execute(select(retention_lease.c.name).where(retention_lease.c.name == LEASE_NAME)).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(retention_lease).values(name=LEASE_NAME, lease_owner=lease.owner, lease_until=until)
                    )
                return lease
            except IntegrityError:  # another process created the row first: it holds the lease
                return None
        claimed = conn.execute(
            update(retention_lease)
            .where(and_(retention_lease.c.name == LEASE_NAME, _lease_free(now)))
            .values(lease_owner=lease.owner, lease_until=until)
        )
    return lease if claimed.rowcount == 1 else None


def _hold(retention: Retention, conn: Connection, lease: Lease) -> None:
    """Renew the lease in `conn`'s transaction, or raise `LeaseLost` (rolling that transaction back)."""
    until = datetime.now(UTC) + timedelta(seconds=retention.settings.retention_lease_seconds)
    if conn.execute(update(retention_lease).where(_mine(lease)).values(lease_until=until)).rowcount != 1:
        raise LeaseLost(lease.request_id)


def _renew(retention: Retention, lease: Lease) -> None:
    with _writing(retention) as conn:
        _hold(retention, conn, lease)


def _release(retention: Retention, lease: Lease, *, ran_at: datetime | None) -> None:
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if ran_at is not None:
        values["last_run_at"] = ran_at
    with _writing(retention) as conn:
        conn.execute(update(retention_lease).where(_mine(lease)).values(**values))


# -- the actions ------------------------------------------------------------------------------------------


def _lapse(retention: Retention, lease: Lease, lapse: Lapse, now: datetime, report: RunReport) -> None:
    revoked: list[str] = []
    revoke = revoking_effect(retention.credentials, revoked)

    def fenced(conn: Connection, record: ConsentRecord) -> None:
        _hold(retention, conn, lease)
        revoke(conn, record)

    # the recipients the consent named are told (`consent.expired`) in the same transaction, as on a withdrawal
    effect = consent_effect(retention.policies.taxonomy, CONSENT_EXPIRED, fenced)

    try:
        record = retention.policies.consents.expire(
            lapse.record.record_id,
            actor=RETENTION_ACTOR,
            at=max(now, lapse.record.event_time),
            valid_until=lapse.at,
            if_seq=lapse.record.seq,
            effects=effect,
        )
    except ConsentError:  # renewed, withdrawn or expired since the survey: nothing to do
        return
    report.lapsed.append(record.record_id)
    report.revoked_receipts += revoked


def _request_deletion(retention: Retention, lease: Lease, deletion: SourceDeletion, now: datetime) -> None:
    deletion_id = str(uuid.uuid4())

    def record(conn: Connection, index: int) -> None:
        _hold(retention, conn, lease)
        conn.execute(
            insert(retention_deletions).values(
                deletion_id=deletion_id,
                customer_id=deletion.customer.customer_id,
                purpose=deletion.purpose,
                categories=list(deletion.categories),
                ledger_index=index,
                created_at=now,
            )
        )
        conn.execute(
            insert(retention_deletion_sources),
            [
                {"deletion_id": deletion_id, "source": s, "status": "pending", "attempts": 0, "updated_at": now}
                for s in deletion.sources
            ],
        )

    retention.ledger.append(
        Event(
            type=DELETION_REQUEST_EVENT,
            actor=RETENTION_ACTOR,
            subject=retention.pseudonyms(deletion.customer.customer_id),
            payload={
                "deletion_id": deletion_id,
                "purpose": deletion.purpose,
                "categories": list(deletion.categories),
                "sources": list(deletion.sources),
            },
            time=now,
        ),
        effects=record,
    )


def _pending_sources(retention: Retention) -> list[dict[str, Any]]:
    d, s = retention_deletions, retention_deletion_sources
    with retention.engine.connect() as conn:
        rows = conn.execute(
            select(s.c.deletion_id, s.c.source, s.c.attempts, d.c.customer_id, d.c.categories, d.c.purpose)
            .join(d, d.c.deletion_id == s.c.deletion_id)
            .where(s.c.status == "pending")
            .order_by(d.c.created_at, s.c.source)
        ).mappings()
        return [dict(r) for r in rows]


def _record_source(
    retention: Retention, lease: Lease, row: dict[str, Any], subject: str | None, now: datetime, **values: Any
) -> None:
    """One source's outcome: its row and a ledger entry, in one transaction under the lease."""

    def write(conn: Connection, index: int) -> None:
        _hold(retention, conn, lease)
        conn.execute(
            update(retention_deletion_sources)
            .where(
                and_(
                    retention_deletion_sources.c.deletion_id == row["deletion_id"],
                    retention_deletion_sources.c.source == row["source"],
                )
            )
            .values(updated_at=datetime.now(UTC), ledger_index=index, **values)
        )

    retention.ledger.append(
        Event(
            type=DELETION_EVENT,
            actor=RETENTION_ACTOR,
            subject=subject,
            payload={
                "deletion_id": row["deletion_id"],
                "purpose": row["purpose"],
                "source": row["source"],
                "status": values["status"],
                "attempts": values["attempts"],
                "upstream_status": values.get("upstream_status"),
            },
            time=now,
        ),
        effects=write,
    )


async def _forward(retention: Retention, lease: Lease, now: datetime, report: RunReport) -> None:
    for row in await run_in_threadpool(_pending_sources, retention):
        await run_in_threadpool(_renew, retention, lease)
        customer = await run_in_threadpool(retention.customers.get, row["customer_id"])
        attempts = int(row["attempts"]) + 1
        subject = retention.pseudonyms(row["customer_id"])
        values: dict[str, Any]
        if customer is None or customer.source_subject is None:
            values = {"status": "already-absent", "attempts": attempts, "last_error": None, "upstream_status": None}
        else:
            try:
                outcome = await retention.upstreams.client(row["source"]).delete_categories(
                    customer.source_subject, row["categories"]
                )
                values = {
                    "status": outcome.status,
                    "attempts": attempts,
                    "last_error": None,
                    "upstream_status": outcome.upstream_status,
                }
            except (UpstreamFailure, InvalidSubject, ErasureNotSupported) as exc:
                final = attempts >= retention.settings.retention_deletion_attempts
                values = {
                    "status": "failed" if final else "pending",
                    "attempts": attempts,
                    "last_error": str(exc)[:500],
                    "upstream_status": getattr(exc, "status_code", None),
                }
        await run_in_threadpool(_record_source, retention, lease, row, subject, now, **values)
        report.deletions.append(
            {"deletion_id": row["deletion_id"], "source": row["source"], "status": values["status"]}
        )


def _ranges(indices: Sequence[int]) -> list[list[int]]:
    """Sorted indices as inclusive [first, last] runs: how an erasure entry names what it erased."""
    runs: list[list[int]] = []
    for index in indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return runs


# Between two erasure batches the run steps aside this long, so the proxy's own ledger appends commit in a batch
# of their own instead of waiting inside the next erasure's transaction.
_STEP_ASIDE_S = 0.02


async def _erase(retention: Retention, lease: Lease, expiry: PayloadExpiry, now: datetime, report: RunReport) -> None:
    batch = retention.settings.retention_batch
    for start in range(0, len(expiry.indices), batch):
        chunk = expiry.indices[start : start + batch]
        report.erasure_entries.append(await run_in_threadpool(_erase_batch, retention, lease, expiry, chunk, now))
        report.erased_payloads += len(chunk)
        await asyncio.sleep(_STEP_ASIDE_S)


def _erase_batch(retention: Retention, lease: Lease, expiry: PayloadExpiry, chunk: Sequence[int], now: datetime) -> int:
    """One `retention.erasure` entry: these payloads go, and the event index forgets what they said (as after a
    GDPR erasure), fenced by the lease in the same transaction."""

    def fence(conn: Connection, index: int) -> None:
        _hold(retention, conn, lease)
        for part in range(0, len(chunk), 900):
            conn.execute(
                update(ledger_event_index)
                .where(ledger_event_index.c.entry_index.in_(chunk[part : part + 900]))
                .values(recipient=None, purpose=None)
            )

    event = Event(
        type=ERASURE_EVENT,
        actor=RETENTION_ACTOR,
        payload={
            "purpose": expiry.purpose,
            "kind": expiry.kind,
            "older_than": expiry.before.isoformat(),
            "count": len(chunk),
            "entries": _ranges(chunk),
        },
        time=now,
    )
    return retention.ledger.erase_payloads(chunk, event, effects=fence, purge=False)


def _erase_receipts(retention: Retention, lease: Lease, expiry: ReceiptExpiry, now: datetime) -> None:
    def forget(conn: Connection, index: int) -> None:
        _hold(retention, conn, lease)
        conn.execute(delete(consent_receipts).where(consent_receipts.c.receipt_id.in_(expiry.receipt_ids)))

    retention.ledger.append(
        Event(
            type=RECEIPTS_EVENT,
            actor=RETENTION_ACTOR,
            payload={"purpose": expiry.purpose, "receipts": list(expiry.receipt_ids)},
            time=now,
        ),
        effects=forget,
    )


async def run_retention(retention: Retention) -> RunReport:
    """One run now, if this process gets the lease; otherwise a report with `ran` false and nothing done."""
    lease = await run_in_threadpool(_claim, retention)
    now = retention.clock.now()
    if lease is None:
        return RunReport(ran=False, at=now)
    report = RunReport(ran=True, at=now)
    done = False
    try:
        found: Survey = await run_in_threadpool(survey, retention)
        report.counts = found.counts()
        for lapse in found.lapses:
            await run_in_threadpool(_lapse, retention, lease, lapse, now, report)
        for deletion in found.deletions:
            await run_in_threadpool(_request_deletion, retention, lease, deletion, now)
        await _forward(retention, lease, now, report)
        for expiry in found.payloads:
            await _erase(retention, lease, expiry, now, report)
        if report.erased_payloads:
            await run_in_threadpool(retention.ledger.purge)  # once, not per batch: it stalls other writers
        for receipts in found.receipts:
            await run_in_threadpool(_erase_receipts, retention, lease, receipts, now)
        done = True
    finally:
        await run_in_threadpool(_release, retention, lease, ran_at=now if done else None)
    return report


def deletion_status(retention: Retention, customer_id: str) -> list[dict[str, Any]]:
    """A customer's deletion requests with each source's status, newest first."""
    d, s = retention_deletions, retention_deletion_sources
    with retention.engine.connect() as conn:
        requests = (
            conn.execute(select(d).where(d.c.customer_id == customer_id).order_by(d.c.created_at.desc()))
            .mappings()
            .all()
        )
        out = []
        for request in requests:
            sources = conn.execute(
                select(s).where(s.c.deletion_id == request["deletion_id"]).order_by(s.c.source)
            ).mappings()
            out.append(
                {
                    "deletion_id": request["deletion_id"],
                    "purpose": request["purpose"],
                    "categories": list(request["categories"]),
                    "ledger_index": request["ledger_index"],
                    "sources": [
                        {
                            "source": r["source"],
                            "status": r["status"],
                            "attempts": r["attempts"],
                            "upstream_status": r["upstream_status"],
                            "last_error": r["last_error"],
                            "ledger_index": r["ledger_index"],
                        }
                        for r in sources
                    ],
                }
            )
    return out


async def sweep_retention(retention: Callable[[], Retention]) -> None:
    """Run now and every `retention_interval_seconds`, for as long as the server runs; every process sweeps, the
    lease lets one act. `retention` is asked afresh each time, so a part replaced on the runtime is used."""
    while True:
        current = retention()
        try:
            report = await run_retention(current)
            if report.ran and (report.lapsed or report.erased_payloads or report.deletions):
                _log.info(
                    "retention_run",
                    lapsed=len(report.lapsed),
                    erased_payloads=report.erased_payloads,
                    deletions=len(report.deletions),
                )
        except LeaseLost:
            _log.warning("retention_lease_lost")
        except Exception:  # a failed run (database down) is retried at the next period
            _log.exception("retention_run_failed")
        await asyncio.sleep(current.settings.retention_interval_seconds)
