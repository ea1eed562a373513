"""Verifier nonces: each answered once per client within its context's validity window.

The primary key (client, SHA-256 of the nonce) decides, so a replay is refused whether it reaches
the same process, another process on the same database, or a restarted gateway. A nonce is claimed
inside the transaction that appends the query to the ledger: answered and recorded, or neither.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, select

from gateway.store.tables import zk_nonces


def nonce_digest(nonce: str) -> bytes:
    return hashlib.sha256(nonce.encode("utf-8")).digest()


class NonceBook:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def seen(self, client_id: str, nonce: str, now: datetime) -> bool:
        """A cheap early refusal; `claim` is the authority (a concurrent first use may not be visible yet)."""
        t = zk_nonces
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.expires_at).where(
                    t.c.client_id == client_id, t.c.nonce_hash == nonce_digest(nonce), t.c.expires_at > now
                )
            ).first()
        return row is not None

    @staticmethod
    def claim(conn: Connection, client_id: str, nonce: str, expires_at: datetime, now: datetime) -> None:
        """Record the nonce as used until `expires_at`; raises IntegrityError if it is in use."""
        conn.execute(delete(zk_nonces).where(zk_nonces.c.expires_at <= now))
        conn.execute(
            insert(zk_nonces).values(client_id=client_id, nonce_hash=nonce_digest(nonce), expires_at=expires_at)
        )
