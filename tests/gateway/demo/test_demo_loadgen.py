"""The benchmark load generator (benchmarks/_loadgen.py) against the real demo vehicle cloud."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from benchmarks._loadgen import LoadgenError, measure, percentile
from gateway.demo import BackgroundServer, run_vehicle_cloud


@pytest.fixture
def server(free_port: int) -> Iterator[BackgroundServer]:
    with run_vehicle_cloud(free_port) as running:
        yield running


def hits(server: BackgroundServer, key: str) -> int:
    return int(server.app.state.hits[key])  # type: ignore[attr-defined]


def test_fixed_request_count_is_sent_exactly_and_measured(server: BackgroundServer) -> None:
    result = measure(f"{server.url}/customers/cust-1001", concurrency=4, requests=60, warmup=5)
    assert (result.requests, result.errors, dict(result.statuses)) == (60, 0, {200: 60})
    assert hits(server, "GET /customers/cust-1001") == 65  # warmup reached the server but is not counted
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.requests_per_s == pytest.approx(60 / result.duration_s)
    assert result.as_dict()["statuses"] == {"200": 60}


def test_duration_bound_stops_the_run(server: BackgroundServer) -> None:
    result = measure(f"{server.url}/healthz", concurrency=2, duration=0.3)
    assert result.requests > 0
    assert result.duration_s < 2.0
    assert hits(server, "GET /healthz") == result.requests


def test_unexpected_statuses_and_refused_connections_count_as_errors(server: BackgroundServer, free_port: int) -> None:
    missing = measure(f"{server.url}/customers/nobody", concurrency=2, requests=6)
    assert (missing.errors, dict(missing.statuses)) == (6, {404: 6})
    erased = measure(f"{server.url}/customers/cust-1004", concurrency=1, requests=2, method="DELETE", ok_statuses=[204])
    assert dict(erased.statuses) == {204: 1, 404: 1}
    assert erased.errors == 1


def test_connection_failures_are_errors_without_latency(free_port: int) -> None:
    down = measure(f"http://127.0.0.1:{free_port}/", concurrency=1, requests=3)
    assert (down.requests, down.errors, down.p99_ms) == (3, 3, 0.0)


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("http://198.51.100.7/", {"concurrency": 1, "requests": 1}, "loopback only"),
        ("https://127.0.0.1/", {"concurrency": 1, "requests": 1}, "only plain http"),
        ("http://example.com/", {"concurrency": 1, "requests": 1}, "loopback only"),
        ("http://127.0.0.1:1/", {"concurrency": 0, "requests": 1}, "concurrency"),
        ("http://127.0.0.1:1/", {"concurrency": 2000, "requests": 1}, "concurrency"),
        ("http://127.0.0.1:1/", {"concurrency": 1}, "exactly one bound"),
        ("http://127.0.0.1:1/", {"concurrency": 1, "requests": 1, "duration": 1.0}, "exactly one bound"),
        ("http://127.0.0.1:1/", {"concurrency": 1, "requests": 0}, "requests"),
        ("http://127.0.0.1:1/", {"concurrency": 1, "duration": 601.0}, "duration"),
    ],
)
def test_unbounded_or_remote_runs_are_refused(url: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LoadgenError, match=message):
        measure(url, **kwargs)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


async def _chunks() -> AsyncIterator[bytes]:
    for part in (b'{"a": ', b"1", b"}"):
        yield part


FRAMING_APP = Starlette(
    routes=[
        Route("/chunked", lambda r: StreamingResponse(_chunks(), media_type="application/json"), methods=["GET"]),
        Route("/close", lambda r: Response("bye", headers={"connection": "close"}), methods=["GET"]),
        Route("/echo", lambda r: Response(b"", status_code=201), methods=["POST"]),
        Route("/head", lambda r: Response("x" * 10), methods=["GET", "HEAD"]),
    ]
)


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/chunked", {}),
        ("/close", {}),
        ("/echo", {"method": "POST", "content": b'{"x": 1}', "headers": {"content-type": "application/json"},
                   "ok_statuses": [201]}),
        ("/head", {"method": "HEAD"}),
    ],
)  # fmt: skip
def test_responses_are_framed_by_chunks_length_or_close(free_port: int, path: str, kwargs: dict[str, Any]) -> None:
    with BackgroundServer(FRAMING_APP, port=free_port) as server:
        result = measure(f"{server.url}{path}", concurrency=3, requests=12, timeout=5.0, **kwargs)
    assert (result.requests, result.errors) == (12, 0)
