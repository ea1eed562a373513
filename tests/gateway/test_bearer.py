"""The bearer check's caches: changes through this process apply at once, another process's within the
configured staleness bound, never with `auth_cache_seconds=0`; cached claims still expire."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from starlette.datastructures import Headers
from starlette.requests import Request

from gateway.auth.authorization_server import FormRequest
from gateway.auth.clients import ClientRegistry
from gateway.auth.principals import ClientPrincipal
from gateway.auth.rfc9068 import AccessTokenError
from gateway.auth.tokens import RevocationList
from gateway.dependencies import authenticate_client, bearer_token, parse_bearer
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.web.problems import Problem


def issue(runtime: Runtime, client_id: str, secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = FormRequest(
        "POST",
        runtime.oauth.token_uri(),
        Headers({"authorization": f"Basic {basic}"}),
        {"grant_type": "client_credentials"},
    )
    result = runtime.oauth.create_token_response(request)
    assert result.error is None
    return str(result.body["access_token"])


def started(tmp_path: Path, **settings: object) -> tuple[Runtime, str]:
    runtime = Runtime.start(Settings(data_dir=tmp_path, **settings))  # type: ignore[arg-type]
    _, secret = runtime.clients.register(
        client_id="crm", name="crm", organization="o", roles=["crm"], scopes=["proxy"], jurisdiction="CN"
    )
    assert secret is not None
    return runtime, issue(runtime, "crm", secret)


def check(runtime: Runtime, token: str) -> tuple[bool, bool]:
    """(client disabled or missing, token revoked) as the bearer dependency sees them."""
    claims = runtime.bearer.claims(token)
    result = runtime.bearer.cached(claims) or runtime.bearer.resolve(claims)
    return (result.client is None or result.client.disabled), result.revoked


def test_changes_through_this_process_apply_at_once(tmp_path: Path) -> None:
    runtime, token = started(tmp_path, auth_cache_seconds=30)
    try:
        assert check(runtime, token) == (False, False)
        claims = runtime.bearer.claims(token)
        runtime.revocations.revoke(claims["jti"], "crm", claims["exp"])
        assert check(runtime, token) == (False, True)
        runtime.clients.set_disabled("crm", True)
        assert check(runtime, token)[0] is True
    finally:
        runtime.close()


def test_another_process_changes_apply_within_the_staleness_bound(tmp_path: Path) -> None:
    runtime, token = started(tmp_path, auth_cache_seconds=0.5)
    try:
        assert check(runtime, token) == (False, False)
        other_process = ClientRegistry(runtime.engine)  # no listeners: like another gateway
        claims = runtime.bearer.claims(token)
        RevocationList(runtime.engine).revoke(claims["jti"], "crm", claims["exp"])
        other_process.set_disabled("crm", True)
        assert check(runtime, token) == (False, False)  # still cached, as documented
        time.sleep(0.6)
        assert check(runtime, token) == (True, True)
    finally:
        runtime.close()


def test_zero_staleness_reads_the_database_every_time(tmp_path: Path) -> None:
    runtime, token = started(tmp_path, auth_cache_seconds=0)
    try:
        assert check(runtime, token) == (False, False)
        claims = runtime.bearer.claims(token)
        RevocationList(runtime.engine).revoke(claims["jti"], "crm", claims["exp"])
        assert check(runtime, token) == (False, True)
    finally:
        runtime.close()


def test_cached_claims_still_expire(tmp_path: Path) -> None:
    runtime, token = started(tmp_path, access_token_ttl_seconds=1)
    try:
        runtime.bearer.claims(token)
        time.sleep(1.1)
        with pytest.raises(AccessTokenError, match="expired"):
            runtime.bearer.claims(token)
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def", "abc.def"),
        ("bearer abc.def", "abc.def"),  # RFC 7235 §2.1: the scheme is case-insensitive
        ("Basic dXNlcjpwdw==", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer   ", None),
        ("Bearer  abc.def ", "abc.def"),  # surrounding blanks, as FastAPI's HTTPBearer strips them
        (None, None),
    ],
)
def test_rfc6750_bearer_header_parsing_of_every_client_route(header: str | None, token: str | None) -> None:
    headers = [(b"authorization", header.encode())] if header is not None else []
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})
    assert bearer_token(request) == token
    assert parse_bearer(header) == token  # the proxy's direct routes read the header themselves


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})


@pytest.mark.anyio
async def test_each_token_and_each_registration_has_its_own_principal(tmp_path: Path) -> None:
    """Principals are kept per verified claims and client registration: never one token's for another's."""
    runtime, token = started(tmp_path, auth_cache_seconds=30)
    try:
        first = await authenticate_client(_request(), runtime.bearer, token)
        assert await authenticate_client(_request(), runtime.bearer, token) == first
        _, secret = runtime.clients.register(
            client_id="auditor",
            name="a",
            organization="p",
            roles=["auditor"],
            scopes=["ledger:read"],
            jurisdiction="DE",
        )
        assert secret is not None
        other = await authenticate_client(_request(), runtime.bearer, issue(runtime, "auditor", secret))
        assert (other.client_id, other.organization, other.scopes) == ("auditor", "p", frozenset({"ledger:read"}))
        assert other.token_id != first.token_id
        runtime.clients.set_disabled("crm", True)
        with pytest.raises(Problem):
            await authenticate_client(_request(), runtime.bearer, token)
        runtime.clients.set_disabled("crm", False)
        assert await authenticate_client(_request(), runtime.bearer, token) == first
        new_secret = runtime.clients.rotate_secret("crm")
        assert new_secret is not None
        second = await authenticate_client(_request(), runtime.bearer, issue(runtime, "crm", new_secret))
        assert second.token_id != first.token_id and second.client_id == "crm"
    finally:
        runtime.close()


async def _call(runtime: Runtime, token: str) -> ClientPrincipal:
    """What every client route does first: authenticate the bearer token."""
    return await authenticate_client(_request(), runtime.bearer, token)


def _count_reads(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every database read of the bearer state (client registrations, the revocation list)."""
    reads: list[str] = []
    clients, revocations = runtime.bearer.clients, runtime.bearer.revocations
    real_get, real_active = clients.get, revocations.active

    def get(client_id: str) -> Any:
        reads.append("client")
        return real_get(client_id)

    def active() -> list[str]:
        reads.append("revocations")
        return real_active()

    monkeypatch.setattr(clients, "get", get)
    monkeypatch.setattr(revocations, "active", active)
    return reads


@pytest.mark.anyio
async def test_a_burst_of_calls_on_stale_state_reads_the_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cached answer goes stale at one instant for all requests in flight; each reading the database then
    stalled the gateway once per staleness period (15-40 ms at concurrency 16). They share one read."""
    runtime, token = started(tmp_path, auth_cache_seconds=0.3)
    try:
        first = await _call(runtime, token)
        reads = _count_reads(runtime, monkeypatch)
        time.sleep(0.35)  # all of it stale now
        answers = await asyncio.gather(*(_call(runtime, token) for _ in range(16)))
        assert answers == [first] * 16
        assert sorted(reads) == ["client", "revocations"]
    finally:
        runtime.close()


@pytest.mark.anyio
async def test_steady_traffic_refreshes_ahead_and_never_waits_for_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, token = started(tmp_path, auth_cache_seconds=1.0)
    try:
        await _call(runtime, token)
        reads = _count_reads(runtime, monkeypatch)
        time.sleep(0.6)  # past half its life, still within the bound: answered from memory, re-read behind it
        await _call(runtime, token)
        for _ in range(200):
            if len(reads) == 2:
                break
            await asyncio.sleep(0.01)
        assert sorted(reads) == ["client", "revocations"]
        await asyncio.sleep(0.05)
        time.sleep(0.5)  # 1.1 s after the first read: stale but for the read-ahead
        assert runtime.bearer.cached(runtime.bearer.claims(token)) is not None
    finally:
        runtime.close()


@pytest.mark.anyio
@pytest.mark.parametrize("change", ["disable the client", "revoke the token"])
async def test_a_change_through_this_process_during_a_shared_read_applies_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A re-read that began before the change must not put the old state back: the change applies at once."""
    runtime, token = started(tmp_path, auth_cache_seconds=0.3)
    try:
        await _call(runtime, token)
        reading, release = threading.Event(), threading.Event()
        real_get = runtime.bearer.clients.get

        def slow_get(client_id: str) -> Any:
            registered = real_get(client_id)  # the state before the change
            reading.set()
            release.wait(10)
            return registered

        monkeypatch.setattr(runtime.bearer.clients, "get", slow_get)
        time.sleep(0.35)
        pending = asyncio.ensure_future(_call(runtime, token))
        assert await asyncio.to_thread(reading.wait, 10)
        if change == "disable the client":
            runtime.clients.set_disabled("crm", True)
        else:
            claims = runtime.bearer.claims(token)
            runtime.revocations.revoke(claims["jti"], "crm", claims["exp"])
        release.set()
        with contextlib.suppress(Problem):
            await pending  # in flight across the change: it may still pass
        monkeypatch.setattr(runtime.bearer.clients, "get", real_get)
        with pytest.raises(Problem) as refused:
            await _call(runtime, token)
        assert refused.value.status == 401
    finally:
        runtime.close()


@pytest.mark.anyio
async def test_a_failed_shared_read_fails_every_waiter_and_the_next_call_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, token = started(tmp_path, auth_cache_seconds=0.3)
    try:
        first = await _call(runtime, token)
        real_get = runtime.bearer.clients.get

        def broken(client_id: str) -> Any:
            raise OperationalError("SELECT", {}, Exception("database is locked"))

        monkeypatch.setattr(runtime.bearer.clients, "get", broken)
        time.sleep(0.35)
        outcomes = await asyncio.gather(*(_call(runtime, token) for _ in range(4)), return_exceptions=True)
        assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
        monkeypatch.setattr(runtime.bearer.clients, "get", real_get)
        assert await _call(runtime, token) == first
    finally:
        runtime.close()
