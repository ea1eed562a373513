"""Idempotency-Key claims: a key in flight is a 409, a failed (5xx) attempt releases the key so the retry
runs, and stored responses expire after the TTL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.dependencies import idempotent, require_admin
from gateway.runtime import Runtime
from gateway.web.idempotency import IdempotencyStore, StoredResponse
from gateway.web.problems import Problem

HASH = b"\x01" * 32


def test_a_key_still_in_flight_is_409_and_released_keys_can_be_claimed_again(runtime: Runtime) -> None:
    store = runtime.idempotency
    assert store.claim("client:a", "k", "POST", "/x", HASH) is None
    with pytest.raises(Problem) as in_flight:
        store.claim("client:a", "k", "POST", "/x", HASH)
    assert in_flight.value.status == 409
    assert in_flight.value.kind == "idempotency-key-in-use"
    store.release("client:a", "k")
    assert store.claim("client:a", "k", "POST", "/x", HASH) is None


def test_a_claim_whose_lease_ran_out_is_taken_over_once(runtime: Runtime) -> None:
    """A claimant killed mid-request never releases: past its lease the first retry owns the key, a second waits."""
    dead = IdempotencyStore(runtime.engine, timedelta(hours=1), lease=timedelta(seconds=-1))
    assert dead.claim("client:a", "k", "POST", "/x", HASH) is None
    retry = IdempotencyStore(runtime.engine, timedelta(hours=1), lease=timedelta(minutes=5))
    assert retry.claim("client:a", "k", "POST", "/x", HASH) is None  # taken over: the request runs again
    with pytest.raises(Problem) as second:
        retry.claim("client:a", "k", "POST", "/x", HASH)
    assert second.value.kind == "idempotency-key-in-use"
    assert 1 <= int(second.value.headers["Retry-After"]) <= 300
    with pytest.raises(Problem) as other_body:
        retry.claim("client:a", "k", "POST", "/x", b"\x02" * 32)
    assert other_body.value.kind == "idempotency-key-reused"


def test_completed_keys_replay_until_they_expire(runtime: Runtime) -> None:
    store = runtime.idempotency
    store.claim("client:a", "k", "POST", "/x", HASH)
    store.complete("client:a", "k", StoredResponse(201, b'{"ok":true}', "application/json"))
    assert store.claim("client:a", "k", "POST", "/x", HASH) == StoredResponse(201, b'{"ok":true}', "application/json")
    expired = IdempotencyStore(runtime.engine, timedelta(seconds=-1))
    assert expired.claim("client:a", "k", "POST", "/x", HASH) is None


def test_a_failed_attempt_releases_the_key_so_the_retry_runs(runtime: Runtime) -> None:
    attempts: list[int] = []
    router = APIRouter()

    @router.post(
        "/flaky",
        summary="Fails once",
        description="Raises on the first call.",
        dependencies=[Depends(idempotent(require_admin))],
    )
    def flaky() -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient")
        return {"attempt": len(attempts)}

    _, secret = runtime.clients.register(
        client_id="admin-x", name="a", organization="o", roles=["admin"], scopes=["admin"], jurisdiction="CN"
    )
    app = create_app(runtime.settings, runtime=runtime, extra_routers=[router])
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as http:
        assert secret is not None
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("admin-x", secret)).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Idempotency-Key": "retry-me"}
        assert http.post("/flaky", headers=headers).status_code == 500
        second = http.post("/flaky", headers=headers)
        third = http.post("/flaky", headers=headers)
    assert second.status_code == 200
    assert second.json() == {"attempt": 2}
    assert third.json() == {"attempt": 2}
    assert third.headers["idempotent-replayed"] == "true"
    assert len(attempts) == 2


def test_the_response_is_stored_before_the_client_receives_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that retries the instant it gets an answer must be replayed, never told the key is in flight."""
    router = APIRouter()
    seen_stored_when_sent: list[bool] = []

    @router.post(
        "/once", summary="Once", description="Answers once.", dependencies=[Depends(idempotent(require_admin))]
    )
    def once() -> dict[str, bool]:
        return {"ok": True}

    completed: list[str] = []
    original_complete = IdempotencyStore.complete

    def complete(self: IdempotencyStore, principal: str, key: str, response: StoredResponse) -> None:
        original_complete(self, principal, key, response)
        completed.append(key)

    monkeypatch.setattr(IdempotencyStore, "complete", complete)
    _, secret = runtime.clients.register(
        client_id="admin-y", name="a", organization="o", roles=["admin"], scopes=["admin"], jurisdiction="CN"
    )
    app = create_app(runtime.settings, runtime=runtime, extra_routers=[router])

    @app.middleware("http")
    async def observe(request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        if request.url.path == "/once":
            seen_stored_when_sent.append(bool(completed))
        return response

    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        assert secret is not None
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("admin-y", secret)).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "Idempotency-Key": "fast-retry"}
        first = http.post("/once", headers=headers)
        retry = http.post("/once", headers=headers)
    assert first.status_code == 200
    assert seen_stored_when_sent[0] is True
    assert retry.headers["idempotent-replayed"] == "true"
