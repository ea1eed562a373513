"""Profile attributes the operator has checked for a customer (name, VIN, national id).

They are what the gateway attests in a customer's SD-JWT VC, so only an administrator records them; the
customer chooses later which of them to disclose to whom.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from gateway.store.tables import customer_attributes


class ProfileAttributeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, customer_id: str, attributes: dict[str, Any]) -> None:
        """Replace the customer's attributes as a whole: the latest check is the one attested."""
        with self.engine.begin() as conn:
            conn.execute(delete(customer_attributes).where(customer_attributes.c.customer_id == customer_id))
            conn.execute(
                insert(customer_attributes).values(
                    customer_id=customer_id, attributes=attributes, updated_at=datetime.now(UTC)
                )
            )

    def get(self, customer_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(customer_attributes.c.attributes).where(customer_attributes.c.customer_id == customer_id)
            ).scalar()
        return dict(value) if value is not None else None
