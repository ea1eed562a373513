"""Value for data: points a customer earns when a purpose that declares an offer uses their data, and spends on
the catalogue.

Points are written by the access entry's own ledger transaction (`accrual_effect`), so a customer holds
points for exactly the uses the ledger records: no use without its points, no points without the use. A use
under an offer with a matched donation is a row too (with the points it earned, maybe none), so the donations
shown are exactly the recorded uses. A redemption is a ledger entry whose effect checks the balance and debits
it in the same transaction: two redemptions racing for the last points cannot both pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select

from gateway.store.tables import customer_points
from ledger import Event
from ledger.store import Ledger

__all__ = [
    "REDEMPTION_EVENT",
    "REDEMPTION_PURPOSE",
    "InsufficientPoints",
    "PointsEntry",
    "accrual_effect",
    "points_balance",
    "points_history",
    "redeem",
]

REDEMPTION_EVENT = "points.redeemed"
REDEMPTION_PURPOSE = "redemption"  # the `purpose` of a debit row; its `recipient` is the catalogue item


class InsufficientPoints(Exception):
    """The balance does not cover the item."""


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


def _balance(conn: Connection, customer_id: str) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(customer_points.c.points), 0)).where(customer_points.c.customer_id == customer_id)
    ).scalar_one()
    return int(total)


def redeem(
    ledger: Ledger, engine: Engine, *, customer_id: str, subject: str, actor: str, item: str, price: int
) -> tuple[int, int]:
    """Spend `price` points on catalogue `item`: a ledger entry (item, points, balance after) whose effect debits
    the balance if it covers the price, else raises `InsufficientPoints` and nothing is recorded. Returns the
    entry's index and the balance after."""
    with engine.connect() as conn:
        before = _balance(conn, customer_id)
    if before < price:
        raise InsufficientPoints(f"the item costs {price} points and the balance is {before}")
    now = datetime.now(UTC)
    after: list[int] = []

    def debit(conn: Connection, index: int) -> None:
        balance = _balance(conn, customer_id)
        if balance < price:
            raise InsufficientPoints(f"the item costs {price} points and the balance is {balance}")
        conn.execute(
            insert(customer_points).values(
                entry_index=index,
                customer_id=customer_id,
                purpose=REDEMPTION_PURPOSE,
                recipient=item,
                points=-price,
                time=now,
            )
        )
        after.append(balance - price)

    index = ledger.append(
        Event(
            type=REDEMPTION_EVENT,
            actor=actor,
            subject=subject,
            payload={"item": item, "points": price, "balance_after": before - price},
            time=now,
        ),
        effects=debit,
    )
    return index, after[0]
