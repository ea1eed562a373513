"""`consentry bench proxy`: what the gateway adds to a read, against the same upstream in the same run.

The demo vehicle cloud runs in its own process; the gateway (`consentry serve`, embedded SQLite, seeded like
`consentry demo`) runs in another: first one uvicorn process, then `--workers 2`. At concurrency 1, 16 and
64 the loopback load generator reads the same record directly from the upstream (the peer) and through the
gateway's proxy, which per request checks the bearer token, decides every category, fetches, filters and
appends a durable ledger entry before answering. Reported: req/s and p50/p99 of both, the throughput ratio
and the added latency. Issue 4's targets: ratio >= 0.5 and added p99 <= 5 ms at concurrency 16.

In the one-process pass the gateway also answers a profile read (`GET /v1/profiles/{account number}`): the same
customer fetched from the vehicle cloud, billing and the insurer in parallel, each filtered, one ledger entry; its
CPU per read is reported for the gateway and each of the three sources.

In the one-process pass a second peer is measured too: a bare forwarding hop (`benchmarks._forwarder`) served
and fetching the same way as the gateway, doing nothing else. Its ratio is what a hop costs on this machine
before any of the gateway's work. Every point also reports the CPU each party spent per request (the load
generator, the upstream, and the hop: forwarder or gateway, all its threads and workers), read from /proc; on
a machine whose cores are all busy, those figures, not wall time, say where a request's cost goes.

`cpu_breakdown_c16` says where the gateway's CPU per read goes at concurrency 16, by stubbing one part at a time
in a live server (`benchmarks._stubbed_gateway`: the ledger append, the upstream fetch with parse and filter, the
decision, the request-context middleware, the token check). One unmodified gateway and one gateway per stubbed
part run side by side on the same seeded data directory and upstream; rounds interleave them, and a part's cost
*in place* is the median over rounds of the unmodified gateway's CPU per read minus the stubbed one's. What no part
explains (the server, the framework, the route) is `rest_us`.
"""

from __future__ import annotations

import os
import resource
import socket
import statistics
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks._cpu import process_tree_cpu_s
from benchmarks._loadgen import LoadResult, measure
from benchmarks._stubbed_gateway import PARTS
from gateway.demo.partners import DEMO_LINKS
from gateway.demo.server import ServerProcess
from gateway.demo.stack import DemoStack

CONCURRENCIES = (1, 16, 64)
WORKERS = (1, 2)
RECORD = "/customers/cust-1001"
PROFILE = DEMO_LINKS["cust-1001"]["billing"]  # the profile read names Li Wei by her loyalty account number
BREAKDOWN_CONCURRENCY = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_snapshot(parties: Mapping[str, int | None]) -> dict[str, float | None]:
    snapshot: dict[str, float | None] = {"loadgen": _own_cpu_s()}
    for name, pid in parties.items():
        snapshot[name] = None if pid is None else process_tree_cpu_s(pid)
    return snapshot


def _point(url: str, parties: Mapping[str, int | None], concurrency: int, duration: float, **kw: Any) -> dict[str, Any]:
    """One closed-loop run after its own warm-up, with each party's CPU milliseconds per completed request."""
    measure(url, concurrency=concurrency, requests=10 * concurrency, warmup=0, **kw)
    before = _cpu_snapshot(parties)
    result: LoadResult = measure(url, concurrency=concurrency, duration=duration, warmup=0, **kw)
    after = _cpu_snapshot(parties)
    cpu: dict[str, float | None] = {}
    for name, spent in before.items():
        end = after[name]
        cpu[name] = (
            None
            if spent is None or end is None or not result.requests
            else (round((end - spent) * 1000 / result.requests, 4))
        )
    return {**result.as_dict(), "cpu_ms_per_request": cpu}


def _read_headers(stack: DemoStack) -> dict[str, str]:
    """The dealer's bearer token and declared purpose: a read every gateway of the benchmark releases."""
    assert stack.world is not None
    token = httpx.post(
        f"{stack.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("dealer", stack.world.client_secrets["dealer"]),
        timeout=30,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}", "Consentry-Purpose": "service_delivery"}


def _measure_stack(stack: DemoStack, duration: float, forwarder: ServerProcess | None) -> dict[str, Any]:
    headers = _read_headers(stack)
    upstream = {"upstream": stack.upstream.pid}
    points: dict[str, Any] = {}
    for concurrency in CONCURRENCIES:
        direct = _point(stack.upstream.url + RECORD, upstream, concurrency, duration)
        gateway = _point(
            f"{stack.url}/v1/proxy/vehicle-cloud{RECORD}",
            {**upstream, "gateway": stack.gateway_pid},
            concurrency,
            duration,
            headers=headers,
        )
        point: dict[str, Any] = {
            "direct": direct,
            "gateway": gateway,
            "throughput_ratio": round(gateway["requests_per_s"] / direct["requests_per_s"], 3),
            "added_p50_ms": round(gateway["p50_ms"] - direct["p50_ms"], 3),
            "added_p99_ms": round(gateway["p99_ms"] - direct["p99_ms"], 3),
        }
        if forwarder is not None:
            # one profile read: the same customer from all three sources, in parallel, filtered, one ledger entry
            sources = {**upstream, **{name: p.pid for name, p in stack.partners.items()}}
            point["profile"] = _point(
                f"{stack.url}/v1/profiles/{PROFILE}",
                {**sources, "gateway": stack.gateway_pid},
                concurrency,
                duration,
                headers=headers,
            )
            hop = _point(forwarder.url + RECORD, {**upstream, "forwarder": forwarder.pid}, concurrency, duration)
            point["forwarder"] = hop
            point["forwarder_throughput_ratio"] = round(hop["requests_per_s"] / direct["requests_per_s"], 3)
            point["gateway_to_forwarder_ratio"] = round(gateway["requests_per_s"] / hop["requests_per_s"], 3)
        points[f"c{concurrency}"] = point
    return points


def _environment_of(pid: int) -> dict[str, str]:
    """The environment a process was started with (Linux's /proc, as `benchmarks._cpu` reads CPU time)."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


@contextmanager
def _gateways(stack: DemoStack, parts: tuple[str, ...]) -> Iterator[dict[str, tuple[str, int | None]]]:
    """The stack's own gateway (`base`) and, beside it, one gateway per stubbed part on the same data directory and
    configuration (so one token is valid at all of them): name to (URL, process id)."""
    assert stack.gateway_pid is not None
    environment = _environment_of(stack.gateway_pid)
    gateways: dict[str, tuple[str, int | None]] = {"base": (stack.url, stack.gateway_pid)}
    with ExitStack() as running:
        for part in parts:
            port = _free_port()
            stubbed = ServerProcess(
                "benchmarks._stubbed_gateway",
                port=port,
                args=("--part", part),
                env={**environment, "CONSENTRY_PORT": str(port)},
                startup_timeout=120,
            )
            running.enter_context(stubbed)
            gateways[part] = (stubbed.url, stubbed.pid)
        yield gateways


def cpu_breakdown(*, duration: float, rounds: int, parts: tuple[str, ...] = tuple(PARTS)) -> dict[str, Any]:
    """Microseconds of gateway CPU per read each part costs in place at concurrency 16 (see the module docstring).

    Per round every gateway is measured once, in an order rotated from round to round so no gateway always
    follows the same neighbour; a part's figure is the median of its per-round differences from `base`."""
    per_round: dict[str, list[float]] = {name: [] for name in ("base", *parts)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        DemoStack(Path(tmp) / "bench", port=_free_port(), upstream_port=_free_port()) as stack,
        _gateways(stack, parts) as gateways,
    ):
        headers = _read_headers(stack)
        order = list(gateways)
        for number in range(rounds):
            shift = number % len(order)
            for name in order[shift:] + order[:shift]:
                url, pid = gateways[name]
                read = f"{url}/v1/proxy/vehicle-cloud{RECORD}"
                point = _point(read, {"gateway": pid}, BREAKDOWN_CONCURRENCY, duration, headers=headers)
                if point["errors"] or set(point["statuses"]) != {"200"}:
                    raise RuntimeError(f"the {name} gateway did not release every read: {point['statuses']}")
                per_round[name].append(point["cpu_ms_per_request"]["gateway"] * 1000)
    base = statistics.median(per_round["base"])
    in_place = {
        part: round(statistics.median(b - s for b, s in zip(per_round["base"], per_round[part], strict=True)), 1)
        for part in parts
    }
    return {
        "concurrency": BREAKDOWN_CONCURRENCY,
        "rounds": rounds,
        "base_us": round(base, 1),
        "in_place_us": in_place,
        "rest_us": round(base - sum(in_place.values()), 1),
        "cpu_us_per_read": {name: [round(v, 1) for v in values] for name, values in per_round.items()},
    }


def run(*, quick: bool) -> dict[str, Any]:
    """The default deployment (one process) at the top level, with the bare forwarder beside it; `workers_2`
    repeats the gateway with `serve --workers 2`."""
    duration = 1.5 if quick else 5.0
    results: dict[str, Any] = {"duration_s_per_point": duration, "cpus": os.cpu_count()}
    for workers in WORKERS:
        with (
            tempfile.TemporaryDirectory() as tmp,
            DemoStack(Path(tmp) / "bench", port=_free_port(), upstream_port=_free_port(), workers=workers) as stack,
        ):
            if workers == 1:
                forwarder = ServerProcess(
                    "benchmarks._forwarder", port=_free_port(), args=("--upstream", stack.upstream.url)
                )
                with forwarder:
                    points = _measure_stack(stack, duration, forwarder)
            else:
                points = _measure_stack(stack, duration, None)
        if workers == 1:
            results.update(points)
        else:
            results[f"workers_{workers}"] = points
    results["cpu_breakdown_c16"] = cpu_breakdown(duration=duration, rounds=3 if quick else 4)
    c16 = results["c16"]
    results["targets_c16"] = {
        "throughput_ratio_at_least_0.5": c16["throughput_ratio"] >= 0.5,
        "added_p99_at_most_5ms": c16["added_p99_ms"] <= 5.0,
    }
    return results
