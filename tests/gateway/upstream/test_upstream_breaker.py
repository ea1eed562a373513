"""The circuit breaker's state machine: closed → open after N consecutive failures → half-open probe."""

from __future__ import annotations

import pytest

from gateway.upstream import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, reset: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("vc", failure_threshold=threshold, reset_timeout=reset, clock=clock), clock


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_stays_closed_below_the_threshold_and_success_resets_the_count() -> None:
    breaker, _ = make(threshold=3)
    fail(breaker, 2)
    breaker.before_call()
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_opens_after_threshold_consecutive_failures_and_refuses_with_retry_after() -> None:
    breaker, clock = make(threshold=3, reset=10)
    fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    clock.now += 4
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(6.0)
    assert (caught.value.status_code, caught.value.problem_type, caught.value.upstream) == (
        503,
        "upstream-circuit-open",
        "vc",
    )


def test_half_open_after_reset_timeout_admits_exactly_one_probe() -> None:
    breaker, clock = make(threshold=1, reset=10)
    fail(breaker, 1)
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_successful_probe_closes_the_circuit() -> None:
    breaker, clock = make(threshold=1, reset=10)
    fail(breaker, 1)
    clock.now += 10
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.before_call()


def test_failed_probe_reopens_for_a_full_reset_timeout() -> None:
    breaker, clock = make(threshold=5, reset=10)
    fail(breaker, 5)
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()  # a single failure in half-open suffices
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_abandoned_probe_frees_the_slot_without_a_verdict() -> None:
    breaker, clock = make(threshold=1, reset=10)
    fail(breaker, 1)
    clock.now += 10
    breaker.before_call()
    breaker.record_abandoned()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_rejects_nonsensical_settings(threshold: int, reset: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("vc", failure_threshold=threshold, reset_timeout=reset)
