"""RFC 9068 JWT access tokens: minted by authlib's generator with our key ring, verified here.

Verification is strict by RFC 9068 §4: `typ` must be `at+jwt`, the signature must verify under a key of
our ring (looked up by `kid`, so rotated-out keys keep verifying), `iss` must be us, `aud` must name us,
and `exp` must lie in the future. Beyond the RFC, a token must already be valid (`nbf`, when present) and may
not outlive the longest lifetime we issue (`max_lifetime`, from `iat` and from now): a token that claims
more was not minted by this gateway's issuance path, whatever key signed it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from gateway.keys import KeyRing, KeyStore

ALGORITHM = "ES256"
CLOCK_SKEW_SECONDS = 30


class AccessTokenError(Exception):
    """The bearer token is not one we issued, or no longer valid; the message says which check failed."""


def _key_set(keys: KeyStore, *, current_only: bool) -> KeySet:
    ring = keys.ring("token")
    chosen = [ring.current] if current_only else list(ring.keys)
    jwks: list[dict[str, str | list[str]]] = [
        dict(key.private_jwk() if current_only else key.public_jwk()) for key in chosen
    ]
    return KeySet([ECKey.import_key(jwk) for jwk in jwks])


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """authlib's RFC 9068 generator, signing with the token ring's current key and our audience."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        super().__init__(issuer=issuer, alg=ALGORITHM, expires_generator=lambda client, grant_type: ttl_seconds)
        self._keys = keys
        self._audience = audience

    def get_jwks(self) -> KeySet:
        return _key_set(self._keys, current_only=True)

    def get_audiences(self, client: Any, user: Any, scope: Any) -> str:
        return self._audience

    def get_jti(self, client: Any, grant_type: Any, user: Any, scope: Any) -> str:
        return uuid.uuid4().hex

    def get_extra_claims(self, client: Any, grant_type: Any, user: Any, scope: Any) -> dict[str, Any]:
        return {"roles": sorted(client.roles)}


class AccessTokenVerifier:
    """Checks signature and claims of an access token; revocation is checked by the caller's store."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, max_lifetime: int = 86_400) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_lifetime = max_lifetime
        self._cached: tuple[KeyRing, KeySet] | None = None

    def _verification_keys(self) -> KeySet:
        """Parsed once per ring version: importing JWKs costs more than the signature check itself."""
        ring = self._keys.ring("token")
        cached = self._cached
        if cached is None or cached[0] is not ring:
            cached = (ring, _key_set(self._keys, current_only=False))
            self._cached = cached
        return cached[1]

    def verify(self, token: str, *, check_expiry: bool = True) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, self._verification_keys(), algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise AccessTokenError(f"signature or format: {exc}") from exc
        if str(decoded.header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise AccessTokenError("typ is not at+jwt (RFC 9068 §4)")
        claims = dict(decoded.claims)
        for name in ("iss", "aud", "exp", "iat", "jti", "sub", "client_id"):
            if name not in claims:
                raise AccessTokenError(f"claim {name!r} is missing (RFC 9068 §2.2)")
        if claims["iss"] != self.issuer:
            raise AccessTokenError("iss is not this gateway")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self.audience not in audiences:
            raise AccessTokenError("aud does not name this gateway")
        if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
            raise AccessTokenError("exp and iat must be integers")
        now = int(time.time())
        if check_expiry and claims["exp"] <= now:
            raise AccessTokenError("the token has expired")
        if claims["iat"] > now + CLOCK_SKEW_SECONDS:
            raise AccessTokenError("the token was issued in the future")
        if "nbf" in claims:
            if not isinstance(claims["nbf"], int) or isinstance(claims["nbf"], bool):
                raise AccessTokenError("nbf must be an integer")
            if claims["nbf"] > now + CLOCK_SKEW_SECONDS:
                raise AccessTokenError("the token is not valid yet (nbf)")
        longest = self.max_lifetime + CLOCK_SKEW_SECONDS
        if claims["exp"] - claims["iat"] > longest or claims["exp"] > now + longest:
            raise AccessTokenError(f"the token claims to live longer than the {self.max_lifetime} s we issue")
        return claims
