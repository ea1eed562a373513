"""A small closed-loop HTTP load generator for benchmarks (loopback only, always bounded).

``concurrency`` workers share one pooled ``httpx.AsyncClient`` and each sends its next request as soon as
the previous one completes, for a fixed number of requests or a fixed duration. Latency is measured per
request from send to complete body; throughput is completed requests over wall time. The same generator
drives the direct and the through-gateway runs, so its own overhead cancels out of their ratio.

It refuses any host that is not loopback and any run without a bound: a benchmark must never become a
load test against somebody else's service, nor run forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["LoadResult", "LoadgenError", "measure", "percentile", "run_load"]

MAX_CONCURRENCY = 1024
MAX_REQUESTS = 1_000_000
MAX_DURATION = 600.0


class LoadgenError(ValueError):
    """A load run that is not allowed (not loopback, unbounded, out of range)."""


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    statuses: Mapping[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "duration_s": round(self.duration_s, 4),
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _check_loopback(url: str) -> None:
    host = httpx.URL(url).host
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadgenError(f"load generation is for loopback only, not {host!r}")


def _check_bounds(concurrency: int, requests: int | None, duration: float | None, warmup: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise LoadgenError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    if (requests is None) == (duration is None):
        raise LoadgenError("give exactly one bound: a request count or a duration")
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise LoadgenError(f"requests must be between 1 and {MAX_REQUESTS}, not {requests}")
    if duration is not None and not 0 < duration <= MAX_DURATION:
        raise LoadgenError(f"duration must be in (0, {MAX_DURATION}] seconds, not {duration}")
    if not 0 <= warmup <= MAX_REQUESTS:
        raise LoadgenError(f"warmup must be between 0 and {MAX_REQUESTS}, not {warmup}")


async def run_load(
    url: str,
    *,
    concurrency: int,
    requests: int | None = None,
    duration: float | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    warmup: int = 0,
    timeout: float = 10.0,
    ok_statuses: Iterable[int] = (200,),
) -> LoadResult:
    """Run one bounded load against ``url``; ``warmup`` requests go first and are not measured."""
    _check_loopback(url)
    _check_bounds(concurrency, requests, duration, warmup)
    ok = frozenset(ok_statuses)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await client.request(method, url, headers=headers, content=content)
            except httpx.HTTPError:
                errors += 1
                return
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] += 1
            if response.status_code not in ok:
                errors += 1

        for _ in range(warmup):
            await one()
        latencies.clear()
        statuses.clear()
        errors = 0

        began = time.perf_counter()
        deadline = began + duration if duration is not None else math.inf

        async def worker() -> None:
            nonlocal issued
            while time.perf_counter() < deadline and (requests is None or issued < requests):
                issued += 1
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return LoadResult(
        concurrency=concurrency,
        requests=issued,
        errors=errors,
        duration_s=elapsed,
        requests_per_s=issued / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        statuses=dict(statuses),
    )


def measure(url: str, **kwargs: Any) -> LoadResult:
    """``run_load`` from synchronous code (a benchmark's ``run``), in its own event loop."""
    return asyncio.run(run_load(url, **kwargs))
