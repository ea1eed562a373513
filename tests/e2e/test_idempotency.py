"""Idempotency-Key on writes over real HTTP: a retry replays the first response, a reused key with a
different body is refused, and without a key a write runs each time."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import Actors


def enrolment(username: str) -> dict[str, str]:
    return {"username": username, "password": "a long enough password", "jurisdiction": "DE"}


def test_a_retry_with_the_same_key_replays_the_first_response(actors: Actors) -> None:
    key = str(uuid.uuid4())
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}", "Idempotency-Key": key}) as http:
        first = http.post("/v1/admin/customers", json=enrolment("idem.one"))
        retry = http.post("/v1/admin/customers", json=enrolment("idem.one"))
        customers = http.get("/v1/admin/customers").json()
    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert [c["username"] for c in customers].count("idem.one") == 1


def test_the_same_key_with_a_different_body_is_422(actors: Actors) -> None:
    key = str(uuid.uuid4())
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}", "Idempotency-Key": key}) as http:
        assert http.post("/v1/admin/customers", json=enrolment("idem.two")).status_code == 201
        reused = http.post("/v1/admin/customers", json=enrolment("idem.three"))
    assert reused.status_code == 422
    assert reused.json()["type"] == "https://consentry.dev/problems/idempotency-key-reused"


def test_keys_are_scoped_to_the_caller(actors: Actors) -> None:
    """Another admin client using the same key value is a different request, not a replay."""
    gateway = actors.gateway
    gateway.register("admin-two", ["admin"], ["admin"])
    key = str(uuid.uuid4())
    with gateway.client(headers={"Authorization": f"Bearer {actors.admin}", "Idempotency-Key": key}) as http:
        assert http.post("/v1/admin/customers", json=enrolment("idem.four")).status_code == 201
    other = gateway.token("admin-two")
    with gateway.client(headers={"Authorization": f"Bearer {other}", "Idempotency-Key": key}) as http:
        second = http.post("/v1/admin/customers", json=enrolment("idem.four"))
    assert second.status_code == 409  # it really ran, and found the username taken
    assert "idempotent-replayed" not in second.headers


def test_an_error_response_is_replayed_too(actors: Actors) -> None:
    key = str(uuid.uuid4())
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}", "Idempotency-Key": key}) as http:
        first = http.post("/v1/admin/customers", json=enrolment("li.wei"))
        retry = http.post("/v1/admin/customers", json=enrolment("li.wei"))
    assert first.status_code == retry.status_code == 409
    assert retry.headers["idempotent-replayed"] == "true"


def test_without_a_key_each_write_runs(actors: Actors) -> None:
    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}"}) as http:
        assert http.post("/v1/admin/customers", json=enrolment("idem.five")).status_code == 201
        assert http.post("/v1/admin/customers", json=enrolment("idem.five")).status_code == 409
