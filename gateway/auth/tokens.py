"""Revocation state of access tokens (RFC 7009), shared by the revocation endpoint and the bearer check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import revoked_tokens


class RevocationList:
    """Revoked `jti`s, kept until the token would have expired anyway."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.listeners: list[Callable[[str], None]] = []

    def revoke(self, jti: str, client_id: str, expires_at: int) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(delete(revoked_tokens).where(revoked_tokens.c.expires_at < now))
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(revoked_tokens).values(
                            jti=jti,
                            client_id=client_id,
                            expires_at=datetime.fromtimestamp(expires_at, UTC),
                            revoked_at=now,
                        )
                    )
            except IntegrityError:
                pass  # already revoked: revocation is idempotent (RFC 7009 §2.2)
        for listener in self.listeners:
            listener(jti)

    def active(self) -> list[str]:
        """Revoked ids of tokens that have not expired yet (expired ones are refused anyway)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at > datetime.now(UTC))
                ).scalars()
            )

    def is_revoked(self, jti: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)).first() is not None
