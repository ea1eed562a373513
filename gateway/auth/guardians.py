"""Who may decide for whom: the guardian accounts linked to a minor.

A guardian signs in as their own customer account; every request made on a minor's behalf is checked against
these links at the moment it is made, so unlinking takes effect on the next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, and_, delete, insert, select

from gateway.auth.customers import customer_principal
from gateway.auth.principals import CustomerPrincipal
from gateway.store.tables import customers, guardians


def guardians_of(engine: Engine, minor_id: str) -> list[CustomerPrincipal]:
    """The accounts that decide for the minor, in the order they were linked."""
    query = (
        select(customers)
        .join(guardians, guardians.c.guardian_id == customers.c.customer_id)
        .where(guardians.c.minor_id == minor_id)
        .order_by(guardians.c.linked_at)
    )
    with engine.connect() as conn:
        return [customer_principal(row) for row in conn.execute(query).mappings()]


def wards_of(engine: Engine, guardian_id: str) -> list[CustomerPrincipal]:
    """The minors a guardian decides for, in the order they were linked."""
    query = (
        select(customers)
        .join(guardians, guardians.c.minor_id == customers.c.customer_id)
        .where(guardians.c.guardian_id == guardian_id)
        .order_by(guardians.c.linked_at)
    )
    with engine.connect() as conn:
        return [customer_principal(row) for row in conn.execute(query).mappings()]


def is_linked(engine: Engine, guardian_id: str, minor_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(guardians.c.minor_id).where(
                and_(guardians.c.minor_id == minor_id, guardians.c.guardian_id == guardian_id)
            )
        ).first()
    return found is not None


def insert_link(conn: Connection, minor_id: str, guardian_id: str, at: datetime, ledger_index: int) -> None:
    """Write a link inside the ledger append that records it (the caller's transaction)."""
    conn.execute(
        insert(guardians).values(minor_id=minor_id, guardian_id=guardian_id, linked_at=at, ledger_index=ledger_index)
    )


def delete_link(conn: Connection, minor_id: str, guardian_id: str) -> int:
    """Remove a link inside the ledger append that records it; the number of links removed (0 or 1)."""
    removed = conn.execute(
        delete(guardians).where(and_(guardians.c.minor_id == minor_id, guardians.c.guardian_id == guardian_id))
    )
    return int(removed.rowcount)
