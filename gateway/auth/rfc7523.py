"""RFC 7523 §2.2 client authentication with a signed JWT (`private_key_jwt`), on authlib's implementation.

Assertions are single use: each `jti` is recorded until the assertion expires, so a captured assertion
cannot be replayed at the token endpoint. That record is why an assertion's lifetime is capped
(`max_lifetime`, 5 minutes by default): an `exp` years ahead would keep its jti as long, and one beyond the
calendar would not even convert to a date.

An assertion is attacker-controlled input read before anything is proven, so whatever is wrong with it
(unsigned, naming a client that authenticates with a secret, claims of the wrong type) is `invalid_client`,
never an exception escaping to a 500.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import used_client_assertions

METHOD = "private_key_jwt"
LEEWAY_SECONDS = 30


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = METHOD

    def __init__(self, engine: Engine, audiences: list[str], *, max_lifetime: int = 300) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY_SECONDS)
        self._engine = engine
        self._audiences = audiences
        self._max_lifetime = max_lifetime

    def __call__(self, query_client: Any, request: Any) -> Any:
        try:
            return super().__call__(query_client, request)
        except InvalidClientError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, UnicodeError) as exc:
            raise InvalidClientError(description="The client assertion is malformed.") from exc

    def get_audiences(self) -> list[str]:
        """RFC 7523 §3: the audience is the token endpoint URL or the issuer identifier."""
        return self._audiences

    def resolve_client_public_key(self, client: Any) -> KeySet:
        if getattr(client, "auth_method", None) != METHOD or not client.jwks:
            # Checked before the signature: a client with a secret has no key an assertion could be checked with.
            raise InvalidClientError(description=f"The client cannot authenticate with method: {METHOD}")
        return KeySet.import_key_set(client.jwks)

    def verify_claims(self, claims: Any) -> None:
        expires = claims.get("exp")
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise InvalidClientError(description="The assertion's exp must be an integer (RFC 7519 NumericDate).")
        latest = int(time.time()) + self._max_lifetime + LEEWAY_SECONDS
        if expires > latest:
            raise InvalidClientError(
                description=f"The assertion may expire at most {self._max_lifetime} s from now; ask for a fresh one."
            )
        super().verify_claims(claims)

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
