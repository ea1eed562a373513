"""The GCRA rate limiter behind the token endpoint and DID challenge limits, on a clock the test moves.

The limits over real HTTP (429 problem+json with Retry-After) are in tests/e2e/test_rate_limits.py.
"""

from __future__ import annotations

import base64

import pytest
from starlette.requests import Request

from gateway.auth.rate_limits import RateLimit, RateLimitedError, RateLimiter, address_key
from gateway.routers.oauth import MALFORMED_BASIC, _claimed_client_id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_at_once_and_the_next_request_is_refused_with_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=0.5, burst=3), clock=clock)
    for _ in range(3):
        limiter.hit("client-a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("client-a")
    assert refused.value.retry_after == 2  # one request per 2 s


def test_the_sustained_rate_is_admitted_after_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=2, burst=1), clock=clock)
    limiter.hit("k")
    clock.now += 0.5
    limiter.hit("k")
    clock.now += 0.25
    with pytest.raises(RateLimitedError):
        limiter.hit("k")


def test_the_limit_resets_after_the_announced_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=0.25, burst=2), clock=clock)
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("k")
    clock.now += refused.value.retry_after
    limiter.hit("k")


def test_a_quiet_spell_refills_the_whole_burst_but_no_more() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1, burst=2), clock=clock)
    limiter.hit("k")
    limiter.hit("k")
    clock.now += 3600
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(RateLimitedError):
        limiter.hit("k")


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1, burst=1), clock=clock)
    limiter.hit("k")
    for _ in range(50):
        with pytest.raises(RateLimitedError):
            limiter.hit("k")
    clock.now += 1
    limiter.hit("k")


def test_keys_are_limited_independently() -> None:
    limiter = RateLimiter(RateLimit(rate=1, burst=1), clock=Clock())
    limiter.hit("client-a")
    with pytest.raises(RateLimitedError):
        limiter.hit("client-a")
    limiter.hit("client-b")


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError):
        RateLimit(rate=0, burst=5)
    with pytest.raises(ValueError):
        RateLimit(rate=1, burst=0)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber prefix
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_limited_per_64_prefix_and_ipv4_per_address(host: str | None, key: str) -> None:
    assert address_key(host) == key


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"crm:secret").decode(),
        "Basic " + base64.b64encode(b"%63rm:secret").decode(),  # authlib percent-decodes the user name
        "Basic " + base64.b64encode(b"c%72%6D:secret").decode(),
    ],
)
def test_every_spelling_of_a_client_id_spends_the_same_token_allowance(authorization: str) -> None:
    request = Request({"type": "http", "headers": [(b"authorization", authorization.encode())], "query_string": b""})
    assert _claimed_client_id(request, {}) == "crm"


def test_basic_credentials_authlib_cannot_decode_share_one_bucket_instead_of_escaping_the_limit() -> None:
    request = Request({"type": "http", "headers": [(b"authorization", b"Basic !!!not-base64")], "query_string": b""})
    assert _claimed_client_id(request, {}) == MALFORMED_BASIC
