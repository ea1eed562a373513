"""The bearer-token check on the hot path of every client call, with bounded caching.

Verifying an ES256 signature and reading the client and the revocation list from the database on every
request costs more than the rest of a proxied call. So:

- a token's verified claims are kept (LRU) until the token expires — the signature cannot change;
- client registrations and the set of revoked token ids are re-read at most every `ttl` seconds.

Changes made through this process (revocation, disabling a client, a new secret) apply at once; changes
made through another gateway process apply within `ttl` seconds. `ttl=0` reads the database on every
request (strict mode, for deployments that want cross-process revocation to be instantaneous).

A cached answer goes stale at one instant for every request in flight. When each of them read the database
then (a thread hop and two queries each, sixteen at once at concurrency 16), the process stalled for 15-40 ms
once every `ttl`, which set the proxy's p99. So `current` runs one re-read per client at a time and every
request that needs it waits for that one; and a request that finds the answer past half its life starts that
re-read in the background and goes on with the answer it has, which is still within the bound: under steady
traffic no request waits for the database at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool

from gateway.auth.clients import ClientRegistry, RegisteredClient
from gateway.auth.rfc9068 import AccessTokenError, AccessTokenVerifier
from gateway.auth.tokens import RevocationList

CLAIMS_CACHE_SIZE = 4096

log = structlog.get_logger("gateway.auth")

_Reread = asyncio.Future[tuple["RegisteredClient | None", frozenset[str]]]


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
        self._forgotten = 0  # registrations changed through this process: a re-read begun earlier is not kept
        # one re-read per client at a time, per event loop (a future belongs to the loop that made it)
        self._rereads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Reread]] = (
            weakref.WeakKeyDictionary()
        )
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
        entry = self._client_cache.get(str(claims["client_id"]))
        if entry is None or self._age(entry) >= self.ttl:
            return None
        return BearerResult(claims, entry[1], str(claims["jti"]) in self._revoked)

    def _age(self, entry: tuple[float, RegisteredClient | None]) -> float:
        """How old the older of a client's cached registration and the revocation list is."""
        now = time.monotonic()
        return max(now - entry[0], now - self._revoked_loaded_at)

    async def current(self, claims: dict[str, Any]) -> BearerResult:
        """Client and revocation state for verified claims, no older than `ttl`; see the module docstring."""
        if self.ttl <= 0:
            return await run_in_threadpool(self.resolve, claims)
        client_id, jti = str(claims["client_id"]), str(claims["jti"])
        entry = self._client_cache.get(client_id)
        if entry is not None and (age := self._age(entry)) < self.ttl:
            if age >= self.ttl / 2:
                self._reread(client_id)  # in the background: this request goes on with what is cached
            return BearerResult(claims, entry[1], jti in self._revoked)
        client, revoked = await asyncio.shield(self._reread(client_id))  # one waiter leaving ends no one's read
        return BearerResult(claims, client, jti in revoked)

    def _reread(self, client_id: str) -> _Reread:
        """The re-read of the client's state in flight on this loop, started if there is none."""
        loop = asyncio.get_running_loop()
        running = self._rereads.setdefault(loop, {})
        reread = running.get(client_id)
        if reread is None:
            reread = running[client_id] = asyncio.ensure_future(run_in_threadpool(self._load, client_id))

            def finished(done: _Reread) -> None:
                running.pop(client_id, None)
                if not done.cancelled() and done.exception() is not None:
                    # whoever waits gets the error too; a read-ahead may have no one waiting, so it is logged here
                    log.warning("bearer_state_unreadable", client_id=client_id, error=repr(done.exception()))

            reread.add_done_callback(finished)
        return reread

    def resolve(self, claims: dict[str, Any]) -> BearerResult:
        """`current` for a caller off the event loop: reads the database when the cache is stale."""
        client_id, jti = str(claims["client_id"]), str(claims["jti"])
        if self.ttl <= 0:
            registered, revoked = self.clients.get_for_token(client_id, jti)
            return BearerResult(claims, registered, revoked)
        cached = self.cached(claims)
        if cached is not None:
            return cached
        client, revocations = self._load(client_id)
        return BearerResult(claims, client, jti in revocations)

    def _load(self, client_id: str) -> tuple[RegisteredClient | None, frozenset[str]]:
        """Read the client's registration and the revocation list and keep them, unless this process changed
        them meanwhile: the read may predate the change, which applies at once (the next request reads again)."""
        started = time.monotonic()
        with self._lock:
            forgotten, revoked_before = self._forgotten, self._revoked
        loaded = frozenset(self.revocations.active())
        client = self.clients.get(client_id)
        with self._lock:
            # revocations noted while reading stay: a token is never un-revoked
            self._revoked = revoked = loaded | (self._revoked - revoked_before)
            self._revoked_loaded_at = started
            if forgotten == self._forgotten:
                self._client_cache[client_id] = (started, client)
        return client, revoked

    def forget_client(self, client_id: str) -> None:
        with self._lock:
            self._forgotten += 1
            self._client_cache.pop(client_id, None)

    def note_revoked(self, jti: str) -> None:
        with self._lock:
            self._revoked = self._revoked | {jti}
