"""`Idempotency-Key` for writes a client may retry (IETF draft-ietf-httpapi-idempotency-key-header).

The first request with a key claims it (principal, key) and records a hash of method, path and body; the
middleware stores the final response once it is complete. A retry with the same key and body gets the
stored response again without re-executing; the same key with a different body is a 422; a retry while
the first is still running is a 409 with Retry-After. A 5xx or an exception releases the claim so the client can
retry.

A process killed mid-request releases nothing, so every claim carries a lease (`lease_until`). Once it has run
out with no response stored, the claimant is dead and a retry takes the claim over and runs the request again:
the route re-checks the current state, so a write that landed before the crash is found (a withdrawn consent
answers that it is withdrawn, a grant renews its record) and one that did not is made now.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import Depends, Header, Request
from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.store.tables import idempotency_keys
from gateway.web.problems import Problem

HEADER = "Idempotency-Key"
STATE_KEY = "idempotency_claim"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200


class HasActor(Protocol):
    @property
    def actor(self) -> str: ...


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    content_type: str | None


class IdempotentReplay(Exception):
    """Raised by the dependency to answer with the stored response instead of running the route again."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


DEFAULT_LEASE = timedelta(seconds=60)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back the stored UTC time without its offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class IdempotencyStore:
    def __init__(self, engine: Engine, ttl: timedelta, *, lease: timedelta = DEFAULT_LEASE) -> None:
        self.engine = engine
        self.ttl = ttl
        self.lease = lease

    def claim(self, principal: str, key: str, method: str, path: str, request_hash: bytes) -> StoredResponse | None:
        """Claim the key, or return the response stored under it; raises Problem on a conflicting reuse."""
        now = datetime.now(UTC)
        where = and_(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
        with self.engine.begin() as conn:
            conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < now - self.ttl))
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(idempotency_keys).values(
                            principal=principal,
                            key=key,
                            method=method,
                            path=path,
                            request_hash=request_hash,
                            created_at=now,
                            lease_until=now + self.lease,
                        )
                    )
                return None
            except IntegrityError:
                row = conn.execute(select(idempotency_keys).where(where)).mappings().first()
            if row is None:  # released between our insert and read: the client may simply retry
                raise _in_use(1)
            if bytes(row["request_hash"]) != request_hash:
                raise Problem(
                    422,
                    "idempotency-key-reused",
                    "This Idempotency-Key was used with a different request; use a new key for a new request.",
                )
            if row["status_code"] is None:
                lease_until = row["lease_until"]
                if lease_until is not None and _utc(lease_until) > now:
                    raise _in_use(math.ceil((_utc(lease_until) - now).total_seconds()))
                # The claimant's lease ran out with no response: its process died. Take the claim over (only one
                # retry can: the update matches the lease it saw) and run the request again.
                taken = conn.execute(
                    update(idempotency_keys)
                    .where(
                        where,
                        idempotency_keys.c.status_code.is_(None),
                        idempotency_keys.c.lease_until.is_(None)
                        if lease_until is None
                        else idempotency_keys.c.lease_until == lease_until,
                    )
                    .values(lease_until=now + self.lease)
                )
                if taken.rowcount != 1:
                    raise _in_use(1)
                return None
        return StoredResponse(int(row["status_code"]), bytes(row["response_body"] or b""), row["content_type"])

    def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(and_(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key))
                .values(
                    status_code=response.status_code, response_body=response.body, content_type=response.content_type
                )
            )

    def release(self, principal: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(
                    and_(idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
                )
            )


def _in_use(retry_after_seconds: int) -> Problem:
    return Problem(
        409,
        "idempotency-key-in-use",
        "A request with this Idempotency-Key is in progress.",
        headers={"Retry-After": str(max(1, retry_after_seconds))},
    )


def idempotent(
    principal_dependency: Callable[..., Any], store_dependency: Callable[..., Awaitable[IdempotencyStore]]
) -> Callable[..., Any]:
    """A route dependency making the route idempotent per principal; the key header is optional."""

    async def dependency(
        request: Request,
        principal: HasActor = Depends(principal_dependency),
        store: IdempotencyStore = Depends(store_dependency),
        idempotency_key: str | None = Header(
            None,
            alias=HEADER,
            max_length=MAX_KEY_LENGTH,
            description="Unique per logical write; a retry with the same key returns the first response.",
            examples=["0b7f2c1e-7a52-4f0e-9d4b-6c1f0f1e2a3b"],
        ),
    ) -> None:
        if idempotency_key is None:
            return
        body = await request.body()
        digest = hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(), body])).digest()
        stored = await run_in_threadpool(
            store.claim, principal.actor, idempotency_key, request.method, request.url.path, digest
        )
        if stored is not None:
            raise IdempotentReplay(stored)
        request.state.idempotency_claim = (principal.actor, idempotency_key)

    return dependency


class IdempotencyMiddleware:
    """Records the response of a request whose route claimed an Idempotency-Key."""

    def __init__(self, app: ASGIApp, store_getter: Callable[[], IdempotencyStore]) -> None:
        self.app = app
        self.store_getter = store_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or not any(name == b"idempotency-key" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        # The response is held back until it is stored: a retry that races the first answer must find it.
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except BaseException:
            claim = scope.get("state", {}).get(STATE_KEY)
            if claim:
                await run_in_threadpool(self.store_getter().release, claim[0], claim[1])
            raise
        claim = scope.get("state", {}).get(STATE_KEY)
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if claim:
            if start is None or start["status"] >= 500:
                await run_in_threadpool(self.store_getter().release, claim[0], claim[1])
            else:
                content_type = next(
                    (v.decode("latin-1") for n, v in start.get("headers", []) if n.lower() == b"content-type"), None
                )
                body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
                stored = StoredResponse(start["status"], body, content_type)
                await run_in_threadpool(self.store_getter().complete, claim[0], claim[1], stored)
        for message in held:
            await send(message)
