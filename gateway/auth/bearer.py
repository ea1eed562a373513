"""The bearer-token check on the hot path of every client call, with bounded caching.

Verifying an ES256 signature and reading the client and the revocation list from the database on every
request costs more than the rest of a proxied call. So:

- a token's verified claims are kept (LRU) until the token expires — the signature cannot change;
- client registrations and the set of revoked token ids are re-read at most every `ttl` seconds.

Changes made through this process (revocation, disabling a client, a new secret) apply at once; changes
made through another gateway process apply within `ttl` seconds. `ttl=0` reads the database on every
request (strict mode, for deployments that want cross-process revocation to be instantaneous).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gateway.auth.clients import ClientRegistry, RegisteredClient
from gateway.auth.rfc9068 import AccessTokenError, AccessTokenVerifier
from gateway.auth.tokens import RevocationList

CLAIMS_CACHE_SIZE = 4096


@dataclass(frozen=True)
class BearerResult:
    claims: dict[str, Any]
    client: RegisteredClient | None
    revoked: bool


class BearerAuthenticator:
    def __init__(
        self, verifier: AccessTokenVerifier, clients: ClientRegistry, revocations: RevocationList, ttl: float
    ) -> None:
        self.verifier = verifier
        self.clients = clients
        self.revocations = revocations
        self.ttl = ttl
        self._claims: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._client_cache: dict[str, tuple[float, RegisteredClient | None]] = {}
        self._revoked: frozenset[str] = frozenset()
        self._revoked_loaded_at = -float("inf")
        self._lock = threading.Lock()
        clients.listeners.append(self.forget_client)
        revocations.listeners.append(self.note_revoked)

    def claims(self, token: str) -> dict[str, Any]:
        """Verified claims; raises AccessTokenError. Cheap for a token seen before and not yet expired."""
        cached = self._claims.get(token)
        if cached is None:
            cached = self.verifier.verify(token)
            with self._lock:
                self._claims[token] = cached
                while len(self._claims) > CLAIMS_CACHE_SIZE:
                    self._claims.popitem(last=False)
        elif int(cached["exp"]) <= int(time.time()):
            raise AccessTokenError("the token has expired")
        return cached

    def cached(self, claims: dict[str, Any]) -> BearerResult | None:
        """The answer from memory when nothing needed is stale, else None (then call `resolve`)."""
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        entry = self._client_cache.get(str(claims["client_id"]))
        if entry is None or now - entry[0] >= self.ttl or now - self._revoked_loaded_at >= self.ttl:
            return None
        return BearerResult(claims, entry[1], str(claims["jti"]) in self._revoked)

    def resolve(self, claims: dict[str, Any]) -> BearerResult:
        """Client and revocation state for verified claims; reads the database when the cache is stale."""
        client_id, jti = str(claims["client_id"]), str(claims["jti"])
        if self.ttl <= 0:
            client, revoked = self.clients.get_for_token(client_id, jti)
            return BearerResult(claims, client, revoked)
        now = time.monotonic()
        if now - self._revoked_loaded_at >= self.ttl:
            self._revoked = frozenset(self.revocations.active())
            self._revoked_loaded_at = now
        entry = self._client_cache.get(client_id)
        if entry is None or now - entry[0] >= self.ttl:
            entry = (now, self.clients.get(client_id))
            self._client_cache[client_id] = entry
        return BearerResult(claims, entry[1], jti in self._revoked)

    def forget_client(self, client_id: str) -> None:
        self._client_cache.pop(client_id, None)

    def note_revoked(self, jti: str) -> None:
        self._revoked = self._revoked | {jti}
