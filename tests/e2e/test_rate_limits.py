"""Rate limits over real HTTP: `POST /oauth/token` per remote address, per (client_id, address) with failed
client authentications counted, and per client_id for the tokens it is issued; DID challenges per customer and
per address. Beyond the burst the answer is 429 problem+json `too-many-requests` with Retry-After, and waiting
that long admits the caller again. The address is the TCP peer, or behind a trusted proxy
(`CONSENTRY_TRUSTED_PROXIES`) the client it names in X-Forwarded-For.

Each test starts its own gateway with small limits (one request per 4 s sustained, a burst of a few), so a
burst cannot leak back in while it is being sent unless sending it takes seconds. Callers at different
addresses connect from different loopback addresses (127.0.0.2, ...), all of which reach the gateway on
127.0.0.1.
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


def _token(http: httpx.Client, client_id: str, secret: str, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return http.post("/oauth/token", data=FORM, auth=(client_id, secret), headers=headers)


def _from(gateway: Gateway, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8)."""
    return gateway.client(transport=httpx.HTTPTransport(local_address=address))


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


def test_failed_client_authentications_spend_the_allowance_of_that_client_at_that_address(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(token_rate_per_client="0.25", token_burst_per_client="3")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with gateway.client() as http:
        for _ in range(3):
            assert_problem(_token(http, "crm", "guessed-secret"), 401, "invalid-client")
        _too_many(_token(http, "crm", "guessed-secret"))
        _too_many(_token(http, "crm", secret))  # the same address: guessing and asking share the allowance


def test_wrong_secrets_for_a_client_from_elsewhere_do_not_deny_that_client_its_tokens(
    start_gateway: Callable[..., Gateway],
) -> None:
    """Client ids are not secret: only requests whose credentials hold spend the client's own allowance."""
    gateway = start_gateway(token_rate_per_client="0.25", token_burst_per_client="3")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with _from(gateway, "127.0.0.2") as attacker, _from(gateway, "127.0.0.3") as crm:
        for _ in range(3):
            assert_problem(_token(attacker, "crm", "guessed-secret"), 401, "invalid-client")
        for _ in range(5):  # guessing stays bounded: the attacker's allowance for this client is spent
            _too_many(_token(attacker, "crm", "guessed-secret"))
        for _ in range(3):
            assert _token(crm, "crm", secret).status_code == 200


def test_the_tokens_a_client_is_issued_count_against_it_from_every_address(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(token_rate_per_client="0.25", token_burst_per_client="3")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with _from(gateway, "127.0.0.2") as first, _from(gateway, "127.0.0.3") as second:
        assert _token(first, "crm", secret).status_code == 200
        assert _token(second, "crm", secret).status_code == 200
        assert _token(first, "crm", secret).status_code == 200
        _too_many(_token(second, "crm", secret))
    with gateway.client() as third:
        _too_many(_token(third, "crm", secret))


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


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_address_allowance(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(
        trusted_proxies="127.0.0.1",
        token_rate_per_address="0.25",
        token_burst_per_address="2",
        did_challenge_rate="0.25",
        did_challenge_burst="1",
    )
    with gateway.client() as proxy:
        for _ in range(2):
            assert _token(proxy, "probe", "x", forwarded_for="203.0.113.1").status_code == 401
        _too_many(_token(proxy, "probe", "x", forwarded_for="203.0.113.1"))
        # The client cannot escape its allowance by prepending addresses: the proxy appends the one it saw.
        _too_many(_token(proxy, "probe", "x", forwarded_for="198.51.100.9, 203.0.113.1"))
        # Another client behind the same proxy, and the proxy itself, still have theirs.
        assert _token(proxy, "probe", "x", forwarded_for="203.0.113.2").status_code == 401
        assert _token(proxy, "probe", "x", forwarded_for="198.51.100.9, 203.0.113.3").status_code == 401
        assert _token(proxy, "probe", "x").status_code == 401
        # Wallet sign-in challenges are keyed the same way.
        challenge = "/v1/session/did/challenge"
        assert proxy.post(challenge, headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 201
        _too_many(proxy.post(challenge, headers={"X-Forwarded-For": "203.0.113.1"}))
        assert proxy.post(challenge, headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 201
    with _from(gateway, "127.0.0.2") as direct:  # not a trusted proxy: keyed by its own address
        for forwarded_for in ("203.0.113.4", "203.0.113.5"):
            assert _token(direct, "probe", "x", forwarded_for=forwarded_for).status_code == 401
        _too_many(_token(direct, "probe", "x", forwarded_for="203.0.113.6"))


def test_without_trusted_proxies_a_forged_x_forwarded_for_does_not_change_the_allowance(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(token_rate_per_address="0.25", token_burst_per_address="2")
    with gateway.client() as http:
        assert _token(http, "probe", "x", forwarded_for="203.0.113.1").status_code == 401
        assert _token(http, "probe", "x", forwarded_for="203.0.113.2").status_code == 401
        _too_many(_token(http, "probe", "x", forwarded_for="203.0.113.3"))
        _too_many(_token(http, "probe", "x"))


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
