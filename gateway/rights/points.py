"""Value for data: points a customer earns when a purpose that declares an offer uses their data.

Points are written by the access entry's own ledger transaction (`accrual_effect`), so a customer holds
points for exactly the uses the ledger records: no use without its points, no points without the use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select

from gateway.store.tables import customer_points

__all__ = ["PointsEntry", "accrual_effect", "points_balance", "points_history"]


@dataclass(frozen=True)
class PointsEntry:
    """One accrual: which access (ledger index) earned how many points, for which purpose and recipient."""

    ledger_index: int
    purpose: str
    recipient: str
    points: int
    time: datetime


def accrual_effect(
    customer_id: str, purpose: str, recipient: str, points: int, at: datetime
) -> Callable[[Connection, int], None]:
    """A ledger `effects` hook that credits the points under the access entry's index."""

    def effect(conn: Connection, index: int) -> None:
        conn.execute(
            insert(customer_points).values(
                entry_index=index, customer_id=customer_id, purpose=purpose, recipient=recipient, points=points, time=at
            )
        )

    return effect


def points_balance(engine: Engine, customer_id: str) -> int:
    """The customer's total points (0 for a customer who has earned none)."""
    with engine.connect() as conn:
        total = conn.execute(
            select(func.coalesce(func.sum(customer_points.c.points), 0)).where(
                customer_points.c.customer_id == customer_id
            )
        ).scalar_one()
    return int(total)


def points_history(engine: Engine, customer_id: str, *, limit: int = 100) -> list[PointsEntry]:
    """The customer's accruals, newest first."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(customer_points)
                .where(customer_points.c.customer_id == customer_id)
                .order_by(customer_points.c.entry_index.desc())
                .limit(limit)
            )
            .mappings()
            .all()
        )
    return [
        PointsEntry(
            ledger_index=int(row["entry_index"]),
            purpose=row["purpose"],
            recipient=row["recipient"],
            points=int(row["points"]),
            time=row["time"] if row["time"].tzinfo else row["time"].replace(tzinfo=UTC),
        )
        for row in rows
    ]
