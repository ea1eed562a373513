"""The GCRA rate limiter behind the token endpoint and DID challenge limits, on a clock the test moves.

The limits over real HTTP (429 problem+json with Retry-After) are in tests/e2e/test_rate_limits.py.
"""

from __future__ import annotations

import pytest

from gateway.auth.rate_limits import RateLimit, RateLimitedError, RateLimiter


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
