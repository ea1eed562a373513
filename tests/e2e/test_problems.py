"""RFC 9457 problem details for every error kind, over real HTTP: one shape, stable `type` URIs, nothing
internal leaked, and the request id to quote."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Actors

PROBLEMS = "https://consentry.dev/problems/"


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + kind
    assert problem["status"] == status
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return problem


def test_unknown_path_is_404(actors: Actors) -> None:
    with actors.gateway.client() as http:
        problem = assert_problem(http.get("/no/such/route"), 404, "not-found")
    assert problem["instance"] == "/no/such/route"


def test_wrong_method_is_405_with_allow(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.delete("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET"


def test_schema_violation_is_422_without_echoing_the_input(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/v1/session", json={"username": "li.wei", "password": ["s3cret-in-a-list"]})
    problem = assert_problem(response, 422, "validation")
    assert problem["errors"] == [
        {"loc": ["body", "password"], "msg": "Input should be a valid string", "type": "string_type"}
    ]
    assert "s3cret-in-a-list" not in response.text


def test_malformed_json_is_422(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/v1/session", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation")


def test_declared_oversized_body_is_413_before_it_is_read(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/v1/session", content=b"x" * 70_000, headers={"content-type": "application/json"})
    problem = assert_problem(response, 413, "body-too-large")
    assert problem["max_bytes"] == 65536


def test_streamed_oversized_body_is_413(actors: Actors) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    with actors.gateway.client() as http:
        response = http.post("/v1/session", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(response, 413, "body-too-large")


def test_missing_credentials_are_401_with_www_authenticate(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.get("/v1/admin/clients")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_wrong_role_is_403(actors: Actors) -> None:
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.crm}"}) as http:
        assert_problem(http.get("/v1/admin/clients"), 403, "insufficient-scope")


def test_a_conflict_is_409(actors: Actors) -> None:
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}"}) as http:
        response = http.post(
            "/v1/admin/customers", json={"username": "li.wei", "password": "long enough pw", "jurisdiction": "CN"}
        )
    assert_problem(response, 409, "conflict")


def test_login_lockout_is_429_with_retry_after_for_real_and_unknown_usernames(actors: Actors) -> None:
    """The module gateway locks after 3 failures; a username that does not exist locks the same way."""
    gateway = actors.gateway
    gateway.enrol("lock.me")
    for username in ("lock.me", "nobody.here"):
        with gateway.client() as http:
            for _ in range(3):
                failed = http.post("/v1/session", json={"username": username, "password": "wrong password!"})
                assert_problem(failed, 401, "invalid-credentials")
            locked = http.post("/v1/session", json={"username": username, "password": "correct horse battery staple"})
        assert_problem(locked, 429, "login-locked")
        assert int(locked.headers["retry-after"]) > 0


def test_a_caller_supplied_request_id_is_echoed(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.get("/nowhere", headers={"X-Request-ID": "trace-1234-abcd"})
    assert response.headers["x-request-id"] == "trace-1234-abcd"
    assert response.json()["request_id"] == "trace-1234-abcd"


@pytest.mark.parametrize("bad_id", ["short", "has spaces in it", "x" * 200])
def test_an_unsafe_request_id_is_replaced(actors: Actors, bad_id: str) -> None:
    with actors.gateway.client() as http:
        response = http.get("/healthz", headers={"X-Request-ID": bad_id})
    assert response.headers["x-request-id"] != bad_id
