"""Rate limits over real HTTP: `POST /oauth/token` per client_id and per remote address (failed client
authentications counted), DID challenges per customer and per address. Beyond the burst the answer is 429
problem+json `too-many-requests` with Retry-After, and waiting that long admits the caller again.

Each test starts its own gateway with small limits (one request per 4 s sustained, a burst of a few), so a
burst cannot leak back in while it is being sent unless sending it takes seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import closing

import httpx

from tests.e2e.conftest import Gateway
from tests.e2e.test_credentials_api import assert_problem

FORM = {"grant_type": "client_credentials"}


def _too_many(response: httpx.Response) -> int:
    """Assert the 429 problem and return its Retry-After (whole seconds)."""
    body = assert_problem(response, 429, "too-many-requests")
    assert body["status"] == 429
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


def _token(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth/token", data=FORM, auth=(client_id, secret))


def test_token_requests_beyond_the_per_client_burst_get_429_with_retry_after_then_reset(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(token_rate_per_client="0.25", token_burst_per_client="3")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    other = gateway.register("dealer", ["crm"], ["proxy"])
    assert secret and other
    with gateway.client() as http:
        for _ in range(3):
            assert _token(http, "crm", secret).status_code == 200
        retry_after = _too_many(_token(http, "crm", secret))
        assert _token(http, "dealer", other).status_code == 200  # another client has its own allowance
        time.sleep(retry_after)
        assert _token(http, "crm", secret).status_code == 200


def test_failed_client_authentications_spend_the_clients_allowance(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(token_rate_per_client="0.25", token_burst_per_client="3")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with gateway.client() as http:
        for _ in range(3):
            assert_problem(_token(http, "crm", "guessed-secret"), 401, "invalid-client")
        _too_many(_token(http, "crm", secret))
        _too_many(_token(http, "crm", "guessed-secret"))


def test_token_requests_beyond_the_per_address_burst_get_429_whatever_the_client(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(token_rate_per_address="0.25", token_burst_per_address="4")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with gateway.client() as http:
        for _ in range(4):  # four different (unknown) clients from one address
            assert _token(http, f"probe-{uuid.uuid4().hex[:8]}", "x").status_code == 401
        retry_after = _too_many(_token(http, "crm", secret))
        time.sleep(retry_after)
        assert _token(http, "crm", secret).status_code == 200


def test_bind_challenges_are_limited_per_customer(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(did_challenge_rate="0.25", did_challenge_burst="2")
    gateway.enrol("li.wei")
    gateway.enrol("wang.fang")
    with closing(gateway.customer_session("li.wei")) as li, closing(gateway.customer_session("wang.fang")) as wang:
        for _ in range(2):
            assert li.post("/v1/me/did/challenge").status_code == 201
        retry_after = _too_many(li.post("/v1/me/did/challenge"))
        assert wang.post("/v1/me/did/challenge").status_code == 201  # another customer has their own allowance
        time.sleep(retry_after)
        assert li.post("/v1/me/did/challenge").status_code == 201


def test_sign_in_challenges_are_limited_per_address(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(did_challenge_rate="0.25", did_challenge_burst="2")
    with gateway.client() as http:
        for _ in range(2):
            assert http.post("/v1/session/did/challenge").status_code == 201
        retry_after = _too_many(http.post("/v1/session/did/challenge"))
        time.sleep(retry_after)
        assert http.post("/v1/session/did/challenge").status_code == 201


def test_the_default_limits_admit_a_burst_of_token_requests(start_gateway: Callable[..., Gateway]) -> None:
    """The defaults (60 at once per client) leave room for clients that start many workers together."""
    gateway = start_gateway()
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with gateway.client() as http:
        assert all(_token(http, "crm", secret).status_code == 200 for _ in range(30))
