"""RFC 7523 §2.2 client authentication with a signed JWT (`private_key_jwt`), on authlib's implementation.

Assertions are single use: each `jti` is recorded until the assertion expires, so a captured assertion
cannot be replayed at the token endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import used_client_assertions

METHOD = "private_key_jwt"


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = METHOD

    def __init__(self, engine: Engine, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._engine = engine
        self._audiences = audiences

    def get_audiences(self) -> list[str]:
        """RFC 7523 §3: the audience is the token endpoint URL or the issuer identifier."""
        return self._audiences

    def resolve_client_public_key(self, client: Any) -> KeySet:
        return KeySet.import_key_set(client.jwks or {"keys": []})  # type: ignore[arg-type]

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        now = datetime.now(UTC)
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        with self._engine.begin() as conn:
            conn.execute(delete(used_client_assertions).where(used_client_assertions.c.expires_at < now))
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(used_client_assertions).values(client_id=claims["sub"], jti=str(jti), expires_at=expires)
                    )
            except IntegrityError:
                return False
        return True
