"""A circuit breaker per upstream: stop calling a source system that keeps failing, and probe it later.

Without it, every proxied read waits out the full timeout (and its retries) against an upstream that is
down, tying up workers and piling latency on every client. With it, after ``failure_threshold``
consecutive failures the gateway answers at once (503 with ``Retry-After``) for ``reset_timeout``
seconds, then lets exactly one probe through (half-open): its success closes the circuit, its failure
opens it again for another full ``reset_timeout``.

The clock is injectable so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from gateway.upstream.errors import UpstreamFailure

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpen"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitOpen(UpstreamFailure):
    """The upstream's circuit is open: the call was not attempted. ``retry_after`` is in seconds."""

    status_code = 503
    problem_type = "upstream-circuit-open"

    def __init__(self, upstream: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(upstream, f"failing; not called for another {retry_after:.1f} s")


class CircuitBreaker:
    """Consecutive-failure breaker with a single half-open probe; safe to share between threads."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout <= 0:
            raise ValueError("reset_timeout must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._probing = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
                return BreakerState.HALF_OPEN
            return self._state

    def before_call(self) -> None:
        """Admit a call or raise ``CircuitOpen``; an admitted call must end in exactly one ``record_*``."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            waited = self._clock() - self._opened_at
            if self._state is BreakerState.OPEN and waited >= self.reset_timeout:
                self._state = BreakerState.HALF_OPEN
            if self._state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return
            raise CircuitOpen(self.name, max(self.reset_timeout - waited, 0.0))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self._state = BreakerState.CLOSED

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
            self._probing = False

    def record_abandoned(self) -> None:
        """An admitted call ended without a verdict (cancelled): free the probe slot, change nothing else."""
        with self._lock:
            self._probing = False
