"""A small closed-loop HTTP/1.1 load generator for benchmarks (loopback only, always bounded).

``concurrency`` workers each hold one keep-alive connection and send their next request as soon as the
previous response is complete, for a fixed number of requests or a fixed duration. Latency is measured per
request from the first byte written to the last body byte read; throughput is completed requests over
wall time. The same generator drives the direct and the through-gateway runs.

It speaks HTTP/1.1 on asyncio streams rather than through httpx on purpose: measured on this machine,
an httpx client saturates at roughly a quarter of the rate a plain keep-alive client reaches against
the same server, and degrades further at concurrency 64, so it would be the bottleneck and hide most of
the gateway's cost. Responses are framed by Content-Length or chunked encoding (RFC 9112 §6-7).

It refuses any host that is not loopback and any run without a bound: a benchmark must never become a
load test against somebody else's service, nor run forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    target: str  # origin-form request target: path and query


def _parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise LoadgenError(f"only plain http:// on loopback is supported, not {parts.scheme or 'no'} scheme")
    host = parts.hostname or ""
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise LoadgenError(f"load generation is for loopback only, not {host!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(host, parts.port or 80, target)


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


class _ResponseError(Exception):
    """The server's answer could not be framed; the connection is dropped and the request counts as an error."""


async def _read_response(reader: asyncio.StreamReader, *, head_only: bool) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise _ResponseError(f"bad status line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    reusable = headers.get("connection", "").lower() != "close"
    if head_only or status in (204, 304) or 100 <= status < 200:
        return status, reusable
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailer fields
                return status, reusable
            await reader.readexactly(size + 2)
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
        return status, reusable
    await reader.read()  # delimited by closing the connection
    return status, False


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
    target = _parse_target(url)
    _check_bounds(concurrency, requests, duration, warmup)
    ok = frozenset(ok_statuses)
    method = method.upper()
    fields = {"host": f"{target.host}:{target.port}", **{k.lower(): v for k, v in (headers or {}).items()}}
    if content is not None:
        fields["content-length"] = str(len(content))
    head = f"{method} {target.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    message = head.encode("latin-1") + b"\r\n" + (content or b"")

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    issued = 0

    class Connection:
        def __init__(self) -> None:
            self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

        async def one(self) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    if self.streams is None:
                        self.streams = await asyncio.open_connection(target.host, target.port)
                    reader, writer = self.streams
                    writer.write(message)
                    await writer.drain()
                    status, reusable = await _read_response(reader, head_only=method == "HEAD")
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _ResponseError,
                    ValueError):  # fmt: skip
                errors += 1
                self.close()
                return
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if status not in ok:
                errors += 1
            if not reusable:
                self.close()

        def close(self) -> None:
            if self.streams is not None:
                self.streams[1].close()
                self.streams = None

    connections = [Connection() for _ in range(concurrency)]
    try:
        for number in range(warmup):
            await connections[number % concurrency].one()
        latencies.clear()
        statuses.clear()
        errors = 0

        began = time.perf_counter()
        deadline = began + duration if duration is not None else math.inf

        async def worker(connection: Connection) -> None:
            nonlocal issued
            while time.perf_counter() < deadline and (requests is None or issued < requests):
                issued += 1
                await connection.one()

        await asyncio.gather(*(worker(c) for c in connections))
        elapsed = time.perf_counter() - began
    finally:
        for connection in connections:
            if connection.streams is not None:
                writer = connection.streams[1]
                connection.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
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
