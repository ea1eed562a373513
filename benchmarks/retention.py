"""`consentry bench retention`: one retention run over a large ledger, and proxied reads while it runs.

A gateway (`consentry serve`, embedded SQLite, the demo seeded, the demo vehicle cloud as its upstream) starts on a
ledger of N access entries (default 1,000,000; `CONSENTRY_BENCH_RETENTION_ENTRIES`, `--quick` 20,000), one in ten
of them 400 days old under a purpose whose access log is kept 180 days, spread through the log (every tenth entry,
so erasure batches name many short runs: the unfavourable case). The auditor's event index is built in bulk, as a
gateway that has served those reads would have it.

The benchmark holds the enforcer's lease while the gateway starts, then measures proxied reads (concurrency 8) in
one-second windows with nothing else running; then it lets the lease go, so the gateway's own sweep takes it and
runs retention in the serving process, and measures the same reads, in the same windows, until the run has
finished. Reported: the run's duration (lease taken to lease given back, polled every 50 ms) and how many payloads
it erased, and per-window p99 of the reads without and during the run (median and worst window), in the same run.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import func, insert, select, update

from benchmarks._loadgen import LoadResult, measure
from gateway.demo import DEMO_UPSTREAMS_PATH
from gateway.demo.seed import seed_demo
from gateway.demo.server import VehicleCloudProcess
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from gateway.store.retention_tables import retention_lease
from gateway.store.tables import ledger_event_index
from ledger import Event
from ledger.store.schema import payloads

CONSENTRY = str(Path(sys.executable).with_name("consentry"))
RECORD = "/v1/proxy/vehicle-cloud/customers/cust-1001"
BATCH = 5000
CONCURRENCY = 8
WINDOW_S = 1.0
BASELINE_WINDOWS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_upstreams(path: Path, url: str) -> Path:
    document = yaml.safe_load(DEMO_UPSTREAMS_PATH.read_text())
    for upstream in document["upstreams"]:
        upstream["base_url"] = url
    path.write_text(yaml.safe_dump(document))
    return path


def _seed(data_dir: Path, upstreams: Path, entries: int) -> tuple[dict[str, str], float]:
    """The demo, N access entries (10 % old) and their index rows; the lease held. Returns client secrets and
    how long the ledger took to fill."""
    runtime = Runtime.start(Settings(data_dir=data_dir, upstreams_path=upstreams))
    try:
        world = seed_demo(runtime)
        now = datetime.now(UTC)
        old = now - timedelta(days=400)
        subjects = [runtime.pseudonyms(f"bench-{i}") for i in range(1000)]
        rng = random.Random(20)
        started = time.perf_counter()
        written = 0
        while written < entries:
            count = min(BATCH, entries - written)
            events = []
            for offset in range(count):
                when = old if (written + offset) % 10 == 0 else now
                payload = {"recipient": "bright-marketing", "purpose": "marketing", "released": ["contact.email"]}
                events.append(Event("access", "client:marketing", rng.choice(subjects), payload, when))
            first = runtime.ledger.append_many(events)[0]
            with runtime.engine.begin() as conn:
                conn.execute(
                    insert(ledger_event_index),
                    [
                        {
                            "entry_index": first + i,
                            "type": e.type,
                            "actor": e.actor,
                            "subject": e.subject,
                            "recipient": "bright-marketing",
                            "purpose": "marketing",
                            "time": e.time,
                        }
                        for i, e in enumerate(events)
                    ],
                )
            written += count
        fill_s = time.perf_counter() - started
        with runtime.engine.begin() as conn:
            conn.execute(
                insert(retention_lease).values(
                    name="retention", lease_owner="benchmark", lease_until=now + timedelta(days=1)
                )
            )
        return world.client_secrets, fill_s
    finally:
        runtime.close()


def _windows(url: str, headers: dict[str, str], until: threading.Event | int) -> list[LoadResult]:
    """Closed-loop reads in one-second windows: a fixed number of them, or until the event is set."""
    results = []
    while True:
        results.append(measure(url, concurrency=CONCURRENCY, duration=WINDOW_S, warmup=0, headers=headers))
        if isinstance(until, int):
            if len(results) >= until:
                return results
        elif until.is_set():
            return results


def _summary(windows: list[LoadResult]) -> dict[str, Any]:
    p99 = [w.p99_ms for w in windows]
    return {
        "windows": len(windows),
        "requests": sum(w.requests for w in windows),
        "errors": sum(w.errors for w in windows),
        "p99_ms_median_window": round(statistics.median(p99), 3),
        "p99_ms_worst_window": round(max(p99), 3),
        "p50_ms_median_window": round(statistics.median(w.p50_ms for w in windows), 3),
        "requests_per_s_median_window": round(statistics.median(w.requests_per_s for w in windows), 1),
    }


def _lease(runtime_url: str) -> tuple[str | None, datetime | None]:
    engine = create_db_engine(runtime_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(retention_lease.c.lease_owner, retention_lease.c.last_run_at)).first()
    finally:
        engine.dispose()
    return (None, None) if row is None else (row[0], row[1])


def run(*, quick: bool) -> dict[str, Any]:
    entries = 20_000 if quick else int(os.environ.get("CONSENTRY_BENCH_RETENTION_ENTRIES", "1000000"))
    with tempfile.TemporaryDirectory() as tmp, VehicleCloudProcess(port=_free_port()) as cloud:
        data_dir = Path(tmp) / "data"
        upstreams = _write_upstreams(Path(tmp) / "upstreams.yaml", cloud.url)
        secrets, fill_s = _seed(data_dir, upstreams, entries)
        database_url = f"sqlite:///{(data_dir / 'consentry.db').resolve()}"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CONSENTRY_DATA_DIR": str(data_dir),
            "CONSENTRY_ISSUER": base,
            "CONSENTRY_PORT": str(port),
            "CONSENTRY_UPSTREAMS_PATH": str(upstreams),
            "CONSENTRY_RETENTION_INTERVAL_SECONDS": "1",
            "CONSENTRY_LOG_LEVEL": "warning",
        }
        env.pop("CONSENTRY_DATABASE_URL", None)
        gateway = subprocess.Popen([CONSENTRY, "serve"], env=env, stdin=subprocess.DEVNULL)  # noqa: S603
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if gateway.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the gateway did not start")
                time.sleep(0.2)
            token = httpx.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("dealer", secrets["dealer"]),
                timeout=30,
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}", "Consentry-Purpose": "service_delivery"}
            url = base + RECORD
            measure(url, concurrency=CONCURRENCY, requests=20 * CONCURRENCY, warmup=0, headers=headers)
            without = _windows(url, headers, BASELINE_WINDOWS)

            finished = threading.Event()
            during: list[LoadResult] = []
            reader = threading.Thread(target=lambda: during.extend(_windows(url, headers, finished)))
            reader.start()
            engine = create_db_engine(database_url)
            with engine.begin() as conn:  # let the lease go: the gateway's next sweep takes it
                conn.execute(update(retention_lease).values(lease_owner=None, lease_until=None))
            engine.dispose()
            started: float | None = None
            ended: float | None = None
            while started is None or ended is None:
                owner, last_run = _lease(database_url)
                now = time.perf_counter()
                if started is None and (owner is not None or last_run is not None):
                    started = now  # (a run shorter than one poll is seen only by its end)
                if started is not None and owner is None and last_run is not None:
                    ended = now
                if gateway.poll() is not None:
                    raise RuntimeError("the gateway exited during the run")
                time.sleep(0.05)
            finished.set()
            reader.join()
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
        engine = create_db_engine(database_url)
        try:
            with engine.connect() as conn:
                kept = conn.execute(select(func.count()).select_from(payloads)).scalar_one()
        finally:
            engine.dispose()
    return {
        "entries": entries,
        "expiring": entries // 10 + (1 if entries % 10 else 0),
        "ledger_fill_s": round(fill_s, 1),
        "retention_run_s": round(ended - started, 2),
        "payloads_left": kept,
        "reads_without_run": _summary(without),
        "reads_during_run": _summary(during),
        "concurrency": CONCURRENCY,
        "window_s": WINDOW_S,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
