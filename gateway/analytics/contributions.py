"""Answered aggregate queries and the pseudonyms of the customers each one counted: what "who used my data" lists.

A query's rows are written while its cohort is read (a page at a time, so memory stays bounded) as `pending`,
and become visible only when the ledger entry that records the query commits, in that entry's transaction
(`release_in`). A query that is refused or fails is deleted with its rows; one left pending by a crash is never
shown and is swept later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from gateway.store.analytics_tables import analytics_contributions, analytics_queries

__all__ = ["Contributions", "QueryRecord", "RepeatedContributor"]

PENDING = "pending"
RELEASED = "released"
_STALE = timedelta(hours=1)


@dataclass(frozen=True)
class QueryRecord:
    query_id: str
    organization: str
    client_id: str
    purpose: str
    source: str
    statistic: str
    attribute: str
    group_by: str | None
    epsilon: float
    delta: float
    period: str
    created_at: datetime
    ledger_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "organization": self.organization,
            "client_id": self.client_id,
            "purpose": self.purpose,
            "source": self.source,
            "statistic": self.statistic,
            "attribute": self.attribute,
            "group_by": self.group_by,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "period": self.period,
            "time": self.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "ledger_index": self.ledger_index,
        }


class RepeatedContributor(Exception):
    """The same customer would count twice in one statistic: its privacy guarantee assumes one value each."""


def _record(row: Any) -> QueryRecord:
    created = row["created_at"]
    return QueryRecord(
        query_id=row["query_id"],
        organization=row["organization"],
        client_id=row["client_id"],
        purpose=row["purpose"],
        source=row["source"],
        statistic=row["statistic"],
        attribute=row["attribute"],
        group_by=row["group_by"],
        epsilon=float(row["epsilon"]),
        delta=float(row["delta"]),
        period=row["period"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        ledger_index=row["ledger_index"],
    )


class Contributions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._duplicate: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        # a fixed statement: the table name is ours and the markers the driver's
        self._insert_sql = f"INSERT INTO gw_analytics_contributions (query_id, subject) VALUES ({marker}, {marker})"  # noqa: S608

    def begin(self, record: QueryRecord) -> None:
        """Open a pending query, sweeping any left pending by a crash."""
        t = analytics_queries.c
        with self.engine.begin() as conn:
            conn.execute(
                delete(analytics_queries).where(t.status == PENDING, t.created_at < record.created_at - _STALE)
            )
            values = record.to_dict()
            values.pop("time")
            conn.execute(insert(analytics_queries).values(**values, created_at=record.created_at, status=PENDING))

    def add(self, query_id: str, subjects: Sequence[str]) -> None:
        if not subjects:
            return
        with self.engine.begin() as conn:
            # the driver's own executemany: SQLAlchemy's per-row work would cost more than the insert itself
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(self._insert_sql, [(query_id, s) for s in subjects])
            except self._duplicate as exc:
                raise RepeatedContributor("a customer was counted twice in one query") from exc
            finally:
                cursor.close()

    def release_in(self, conn: Connection, query_id: str, ledger_index: int) -> None:
        """Make the query visible, in the transaction of its ledger entry."""
        t = analytics_queries.c
        moved = conn.execute(
            update(analytics_queries)
            .where(t.query_id == query_id, t.status == PENDING)
            .values(status=RELEASED, ledger_index=ledger_index)
        )
        if moved.rowcount != 1:
            raise LookupError(f"analytics query {query_id} is no longer pending")

    def discard(self, query_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(analytics_contributions).where(analytics_contributions.c.query_id == query_id))
            conn.execute(delete(analytics_queries).where(analytics_queries.c.query_id == query_id))

    def of_subject(self, subject: str, *, limit: int = 100, before: int | None = None) -> list[QueryRecord]:
        """The released queries a pseudonymous customer contributed to, newest first."""
        q, c = analytics_queries.c, analytics_contributions.c
        query = (
            select(analytics_queries)
            .join(analytics_contributions, c.query_id == q.query_id)
            .where(c.subject == subject, q.status == RELEASED)
            .order_by(q.ledger_index.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(q.ledger_index < before)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings().all()]

    def contributed(self, subject: str, ledger_index: int) -> bool:
        """Whether the released query recorded at `ledger_index` counted this pseudonymous customer."""
        q, c = analytics_queries.c, analytics_contributions.c
        query = (
            select(q.query_id)
            .join(analytics_contributions, c.query_id == q.query_id)
            .where(q.ledger_index == ledger_index, q.status == RELEASED, c.subject == subject)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def history(self, *, organization: str | None = None, limit: int = 100) -> list[QueryRecord]:
        """Released queries, newest first (what `consentry analytics history` shows)."""
        q = analytics_queries.c
        query = select(analytics_queries).where(q.status == RELEASED).order_by(q.ledger_index.desc()).limit(limit)
        if organization is not None:
            query = query.where(q.organization == organization)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings().all()]

    def forget(self, subject: str) -> None:
        """Erasure: the customer's contribution rows go (the queries and their ledger entries stay)."""
        with self.engine.begin() as conn:
            conn.execute(delete(analytics_contributions).where(analytics_contributions.c.subject == subject))
