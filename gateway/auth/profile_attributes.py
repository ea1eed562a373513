"""Profile attributes the operator has checked for a customer (name, VIN, national id).

They are what the gateway attests in a customer's SD-JWT VC, so only an administrator records them; the
customer chooses later which of them to disclose to whom. A national identity number is among the most
sensitive things the gateway could hold, so the attributes are sealed at rest (AES-256-GCM under a key derived
from the custody secret, the customer id as associated data: a row copied onto another customer does not
open). Recording them is a ledger entry naming which attributes changed, never their values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from gateway.auth.journal import Journal, write
from gateway.store.tables import customer_attributes
from keyfiles import SealedBox
from ledger.b64 import b64decode, b64encode

__all__ = ["ATTRIBUTES_RECORDED_EVENT", "ProfileAttributeStore"]

ATTRIBUTES_RECORDED_EVENT = "customer.attributes_recorded"
_INFO = b"consentry profile attributes sealing v1"


class ProfileAttributeStore:
    def __init__(self, engine: Engine, secret: bytes, journal: Journal | None = None) -> None:
        self.engine = engine
        self._box = SealedBox.hkdf(secret, info=_INFO)
        self.journal = journal

    def __repr__(self) -> str:
        return "ProfileAttributeStore(<key>)"

    def put(self, customer_id: str, attributes: dict[str, Any], *, actor: str = "operator") -> None:
        """Replace the customer's attributes as a whole: the latest check is the one attested."""
        document = json.dumps(attributes, sort_keys=True).encode()
        sealed = {"sealed": b64encode(self._box.seal(document, customer_id.encode()))}

        def change(conn: Connection) -> None:
            conn.execute(delete(customer_attributes).where(customer_attributes.c.customer_id == customer_id))
            conn.execute(
                insert(customer_attributes).values(
                    customer_id=customer_id, attributes=sealed, updated_at=datetime.now(UTC)
                )
            )

        payload = {"attributes": sorted(attributes)}
        write(
            self.engine,
            self.journal,
            change,
            ATTRIBUTES_RECORDED_EVENT,
            actor=actor,
            subject=customer_id,
            payload=payload,
            personal=True,
        )

    def get(self, customer_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(customer_attributes.c.attributes).where(customer_attributes.c.customer_id == customer_id)
            ).scalar()
        if value is None:
            return None
        stored = dict(value)
        if set(stored) != {"sealed"}:  # recorded before sealing: readable as it is, sealed at the next record
            return stored
        opened: dict[str, Any] = json.loads(self._box.open(b64decode(stored["sealed"]), customer_id.encode()))
        return opened
