"""Single-use challenges for DID Authentication (wallet login and wallet binding).

A challenge is 256 random bits (credentials.new_challenge) that the wallet signs into its presentation.
Only its SHA-256 is stored, with an expiry and the purpose it was issued for; using it is one DELETE that
must remove exactly one live row, so two concurrent logins with the same challenge cannot both succeed,
on SQLite or PostgreSQL, in one process or many.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, and_, delete, insert

from credentials import new_challenge
from gateway.store.tables import did_challenges

Purpose = Literal["login", "bind", "presentation"]
# How long a challenge stays usable, wherever it is issued (the API or the portal's wallet sign-in page).
CHALLENGE_TTL = timedelta(minutes=5)


class DidChallengeStore:
    def __init__(self, engine: Engine, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl

    @staticmethod
    def _hash(challenge: str) -> bytes:
        return hashlib.sha256(challenge.encode()).digest()

    def issue(self, purpose: Purpose) -> tuple[str, datetime]:
        """A fresh challenge and its expiry; expired ones are swept so unauthenticated callers cannot pile rows."""
        challenge = new_challenge()
        now = datetime.now(UTC)
        expires = now + self.ttl
        with self.engine.begin() as conn:
            conn.execute(delete(did_challenges).where(did_challenges.c.expires_at < now))
            conn.execute(
                insert(did_challenges).values(
                    challenge_hash=self._hash(challenge), purpose=purpose, created_at=now, expires_at=expires
                )
            )
        return challenge, expires

    def consume(self, challenge: str, purpose: Purpose) -> bool:
        """True once for a live challenge of this purpose; False if unknown, used, expired or for another use."""
        with self.engine.begin() as conn:
            removed = conn.execute(
                delete(did_challenges).where(
                    and_(
                        did_challenges.c.challenge_hash == self._hash(challenge),
                        did_challenges.c.purpose == purpose,
                        did_challenges.c.expires_at > datetime.now(UTC),
                    )
                )
            )
        return removed.rowcount == 1
