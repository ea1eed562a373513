"""Privacy budgets in the database: what each recipient organization has spent per purpose, source attribute set and
calendar period, and the one place ε is spent.

The spend is a single conditional UPDATE (`spent + cost <= total`) run inside the ledger append's transaction
(the entry's `effects`): the row lock it takes serialises every process on the same database, so of two queries
racing for the last of a budget exactly one commits its ledger entry and the other is refused with nothing
recorded or released. The total is the matrix rule's budget at the time of the spend, so a lowered budget binds
at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.analytics_tables import analytics_budgets

__all__ = ["BudgetExceeded", "BudgetKey", "BudgetState", "BudgetStore", "period_bounds"]

# Float sums of ε such as 0.1 + 0.2 are not exact; a spend that overshoots by less than this still fits.
_SLACK = 1e-9


def period_bounds(period: str, at: datetime) -> tuple[str, datetime, datetime]:
    """The calendar period (UTC) holding `at`: its label, start and end (exclusive)."""
    at = at.astimezone(UTC)
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if period == "day":
        return day.strftime("%Y-%m-%d"), day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}", start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start.strftime("%Y-%m"), start, end
    if period == "year":
        start = day.replace(month=1, day=1)
        return str(start.year), start, start.replace(year=start.year + 1)
    raise ValueError(f"unknown budget period {period!r}")


@dataclass(frozen=True)
class BudgetKey:
    organization: str
    purpose: str
    source: str
    attributes: tuple[str, ...]
    period: str

    @property
    def attribute_set(self) -> str:
        return ",".join(sorted(set(self.attributes)))

    def where(self) -> Any:
        t = analytics_budgets.c
        return and_(
            t.organization == self.organization,
            t.purpose == self.purpose,
            t.source == self.source,
            t.attributes == self.attribute_set,
            t.period == self.period,
        )


@dataclass(frozen=True)
class BudgetState:
    key: BudgetKey
    total: float
    spent: float
    resets_at: datetime

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.spent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "organization": self.key.organization,
            "purpose": self.key.purpose,
            "source": self.key.source,
            "attributes": self.key.attribute_set.split(","),
            "period": self.key.period,
            "epsilon_total": self.total,
            "epsilon_spent": round(self.spent, 12),
            "epsilon_remaining": round(self.remaining, 12),
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
        }


class BudgetExceeded(Exception):
    """The spend would pass the budget; nothing was spent."""

    def __init__(self, state: BudgetState) -> None:
        super().__init__(f"privacy budget exceeded: {state.remaining:g} of {state.total:g} left")
        self.state = state


class BudgetStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def state(self, key: BudgetKey, total: float, resets_at: datetime) -> BudgetState:
        with self.engine.connect() as conn:
            spent = conn.execute(select(analytics_budgets.c.epsilon_spent).where(key.where())).scalar()
        return BudgetState(key, total, float(spent or 0.0), resets_at)

    def spend(self, conn: Connection, key: BudgetKey, total: float, cost: float, resets_at: datetime) -> BudgetState:
        """Spend `cost` in the caller's transaction (the ledger append's), or raise `BudgetExceeded`."""
        now = datetime.now(UTC)
        t = analytics_budgets.c
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(analytics_budgets).values(
                        organization=key.organization,
                        purpose=key.purpose,
                        source=key.source,
                        attributes=key.attribute_set,
                        period=key.period,
                        epsilon_total=total,
                        epsilon_spent=0.0,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass  # the period's row exists already (another query, perhaps in another process)
        moved = conn.execute(
            update(analytics_budgets)
            .where(key.where(), t.epsilon_spent + cost <= total + _SLACK)
            .values(epsilon_spent=t.epsilon_spent + cost, epsilon_total=total, updated_at=now)
        )
        spent = conn.execute(select(t.epsilon_spent).where(key.where())).scalar_one()
        state = BudgetState(key, total, float(spent), resets_at)
        if moved.rowcount != 1:
            raise BudgetExceeded(state)
        return state

    def list(self, organization: str | None = None) -> Sequence[BudgetState]:
        """Every budget row (newest period first), for `consentry analytics budget`; totals as last spent."""
        t = analytics_budgets.c
        query = select(analytics_budgets).order_by(t.period.desc(), t.organization, t.purpose, t.source, t.attributes)
        if organization is not None:
            query = query.where(t.organization == organization)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            BudgetState(
                BudgetKey(r["organization"], r["purpose"], r["source"], tuple(r["attributes"].split(",")), r["period"]),
                float(r["epsilon_total"]),
                float(r["epsilon_spent"]),
                _resets(r["period"]),
            )
            for r in rows
        ]


def _resets(label: str) -> datetime:
    """The end of a stored period, from its label's shape (2026, 2026-12, 2026-W49, 2026-12-07)."""
    if "-W" in label:
        year, week = label.split("-W")
        start = datetime.fromisocalendar(int(year), int(week), 1).replace(tzinfo=UTC)
        return start + timedelta(days=7)
    parts = label.split("-")
    if len(parts) == 1:
        return datetime(int(parts[0]) + 1, 1, 1, tzinfo=UTC)
    if len(parts) == 2:
        return period_bounds("month", datetime(int(parts[0]), int(parts[1]), 1, tzinfo=UTC))[2]
    return datetime(int(parts[0]), int(parts[1]), int(parts[2]), tzinfo=UTC) + timedelta(days=1)
