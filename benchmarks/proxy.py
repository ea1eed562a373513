"""`consentry bench proxy`: what the gateway adds to a read, against the same upstream in the same run.

The demo vehicle cloud runs in its own process; the gateway (`consentry serve`, embedded SQLite, seeded like
`consentry demo`) runs in another: first one uvicorn process, then `--workers 2`. At concurrency 1, 16 and
64 the loopback load generator reads the same record directly from the upstream (the peer) and through the
gateway's proxy, which per request checks the bearer token, decides every category, fetches, filters and
appends a durable ledger entry before answering. Reported: req/s and p50/p99 of both, the throughput ratio
and the added latency. Issue 4's targets: ratio >= 0.5 and added p99 <= 5 ms at concurrency 16.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import httpx

from benchmarks._loadgen import measure
from gateway.demo.stack import DemoStack

CONCURRENCIES = (1, 16, 64)
WORKERS = (1, 2)
RECORD = "/customers/cust-1001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _measure_stack(stack: DemoStack, duration: float) -> dict[str, Any]:
    assert stack.world is not None
    token = httpx.post(
        f"{stack.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("dealer", stack.world.client_secrets["dealer"]),
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Consentry-Purpose": "service_delivery"}
    points: dict[str, Any] = {}
    for concurrency in CONCURRENCIES:
        common = {"concurrency": concurrency, "duration": duration, "warmup": 10 * concurrency}
        direct = measure(stack.upstream.url + RECORD, **common)
        gateway = measure(f"{stack.url}/v1/proxy/vehicle-cloud{RECORD}", headers=headers, **common)
        points[f"c{concurrency}"] = {
            "direct": direct.as_dict(),
            "gateway": gateway.as_dict(),
            "throughput_ratio": round(gateway.requests_per_s / direct.requests_per_s, 3),
            "added_p50_ms": round(gateway.p50_ms - direct.p50_ms, 3),
            "added_p99_ms": round(gateway.p99_ms - direct.p99_ms, 3),
        }
    return points


def run(*, quick: bool) -> dict[str, Any]:
    """The default deployment (one process) at the top level; `workers_2` repeats it with `serve --workers 2`."""
    duration = 1.5 if quick else 5.0
    results: dict[str, Any] = {"duration_s_per_point": duration, "cpus": os.cpu_count()}
    for workers in WORKERS:
        with (
            tempfile.TemporaryDirectory() as tmp,
            DemoStack(Path(tmp) / "bench", port=_free_port(), upstream_port=_free_port(), workers=workers) as stack,
        ):
            points = _measure_stack(stack, duration)
        if workers == 1:
            results.update(points)
        else:
            results[f"workers_{workers}"] = points
    c16 = results["c16"]
    results["targets_c16"] = {
        "throughput_ratio_at_least_0.5": c16["throughput_ratio"] >= 0.5,
        "added_p99_at_most_5ms": c16["added_p99_ms"] <= 5.0,
    }
    return results
