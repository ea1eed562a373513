"""`consentry bench analytics`: differentially private aggregates over a synthetic source of a million customers.

A synthetic vehicle cloud (`benchmarks._synthetic_cloud`, its own process) pages through 100,000 and 1,000,000
customers computed on the fly; the gateway (`consentry serve`, embedded SQLite, a fresh process per population)
holds that many enrolled customers, each with a consent to the R&D partner's use of their vehicle data. Over real
HTTP the R&D client asks for the mean mileage and a 20-bin histogram of it: each answer reads every page, decides
every customer's consent, records every contributor's pseudonym and spends ε in the ledger, so its latency is
the whole path. Peak memory is the gateway's high-water RSS (VmHWM) per population: bounded means the 1M figure
is not ten times the 100k one.

Accuracy is measured apart from HTTP: the same page-wise OpenDP statistics (`gateway.analytics.dp`) are fed the
whole population once, then released many times at ε = 0.1, 1 and 10 (the release is the only random step), and
the measured error against the exact value is reported beside the accuracy the release states at 95%.

To enrol a million customers in reasonable time the benchmark writes their accounts and consent records as rows
(no password hashing, no ledger entry per consent); everything a query does is the production path.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, insert

from benchmarks._synthetic_cloud import MODELS, subject, vehicle
from gateway.analytics.dp import DpQuery, PrivateStatistic, Statistic
from gateway.auth.customers import UNUSABLE_HASH
from gateway.demo.server import ServerProcess
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.tables import customers
from policies import DEFAULT_MATRIX
from policies import schema as policy_tables
from policies.timeutil import to_micros

BOUNDS = (0, 300_000)
BINS = 20
EPSILONS = (0.1, 1.0, 10.0)
_CHUNK = 20_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry(path: Path, source_url: str, sizes: tuple[int, ...]) -> Path:
    upstreams = [
        {
            "name": f"synthetic-{size}",
            "base_url": source_url,
            "subject": "/customers/{subject}",
            "timeouts": {"read": 60.0},
            "fields": [{"selector": "/vehicle/mileage_km", "category": "vehicle.mileage"}],
            "bulk": {"path": f"/export/{size}/vehicles", "page_size": 1000, "max_pages": 100_000},
            "attributes": [
                {
                    "name": "mileage_km",
                    "selector": "/vehicle/mileage_km",
                    "category": "vehicle.mileage",
                    "type": "integer",
                    "bounds": list(BOUNDS),
                    "unit": "km",
                },
                {
                    "name": "model",
                    "selector": "/vehicle/model",
                    "category": "vehicle",
                    "type": "category",
                    "values": list(MODELS),
                },
            ],
        }
        for size in sizes
    ]
    path.write_text(yaml.safe_dump({"upstreams": upstreams}))
    return path


def _matrix(path: Path) -> Path:
    """The demo matrix with the largest budget a rule may hold, so the benchmark's queries never run out."""
    text = DEFAULT_MATRIX.read_text()
    path.write_text(text.replace("budget: {epsilon: 20.0, period: month}", "budget: {epsilon: 100.0, period: month}"))
    return path


def _enrol(engine: Engine, population: int) -> None:
    """`population` customers, each with a consent to R&D use of their vehicle data (rows, not ledgered)."""
    now = datetime.now(UTC)
    since = to_micros(now - timedelta(days=1))
    for start in range(1, population + 1, _CHUNK):
        numbers = range(start, min(population, start + _CHUNK - 1) + 1)
        ids = [str(uuid.uuid4()) for _ in numbers]
        records = [str(uuid.uuid4()) for _ in numbers]
        with engine.begin() as conn:
            conn.execute(
                insert(customers),
                [
                    {
                        "customer_id": cid,
                        "username": f"syn.{n}",
                        "password_hash": UNUSABLE_HASH,  # these customers never sign in
                        "display_name": subject(n),
                        "jurisdiction": "DE",
                        "did": None,
                        "created_at": now,
                        "customer_type": "standard",
                        "source_subject": subject(n),
                    }
                    for n, cid in zip(numbers, ids, strict=True)
                ],
            )
            conn.execute(
                insert(policy_tables.consent_records),
                [
                    {
                        "record_id": rid,
                        "subject_id": cid,
                        "controller": "acme-motors",
                        "kind": "consent",
                        "purposes": '["joint_rnd"]',
                        "categories": '["vehicle"]',
                        "recipients": '["org:stuttgart-rnd"]',
                        "jurisdiction": "DE",
                        "legal_basis": "consent",
                        "notice": None,
                        "method": "import",
                        "given_by": "subject",
                        "separate": False,
                        "cross_border": False,
                        "purpose_revisions": '{"joint_rnd": 1}',
                        "status": "given",
                        "valid_from": since,
                        "valid_until": None,
                        "event_time": since,
                        "seq": 1,
                        "ledger_index": 0,
                    }
                    for cid, rid in zip(ids, records, strict=True)
                ],
            )
            conn.execute(
                insert(policy_tables.consent_scope),
                [
                    {"subject_id": cid, "purpose": "joint_rnd", "record_id": rid}
                    for cid, rid in zip(ids, records, strict=True)
                ],
            )


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _serve(data_dir: Path, environment: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    env.update(environment, CONSENTRY_DATA_DIR=str(data_dir), CONSENTRY_ISSUER=url, CONSENTRY_PORT=str(port))
    consentry = str(Path(sys.executable).with_name("consentry"))
    with log.open("ab") as out:
        process = subprocess.Popen([consentry, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited; see {log}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the gateway did not become healthy")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _query(url: str, bearer: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {bearer}", "Consentry-Purpose": "joint_rnd"}
    started = time.perf_counter()
    response = httpx.post(url + "/v1/analytics/queries", json=body, headers=headers, timeout=3600)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"query failed: {response.status_code} {response.text}")
    return elapsed, response.json()


def _edges() -> tuple[int, ...]:
    low, high = BOUNDS
    return tuple(sorted({low + (high - low) * i // BINS for i in range(BINS + 1)}))


def _accuracy(population: int, runs: int) -> dict[str, Any]:
    """Feed the population once, release many times per ε, and compare with the exact statistics."""
    values = [vehicle(n)[1] for n in range(1, population + 1)]
    true_mean = statistics.fmean(min(max(v, BOUNDS[0]), BOUNDS[1]) for v in values)
    edges = _edges()
    true_bins = [0] * BINS
    for v in values:
        index = sum(v >= e for e in edges[1:-1])
        true_bins[index] += 1
    out: dict[str, Any] = {"population": population, "runs": runs, "true_mean_km": true_mean}
    for epsilon in EPSILONS:
        mean = PrivateStatistic(DpQuery(Statistic.MEAN, *BOUNDS), epsilon)
        hist = PrivateStatistic(DpQuery(Statistic.HISTOGRAM, *BOUNDS, edges=edges), epsilon)
        for start in range(0, population, 1000):
            mean.add(0, values[start : start + 1000])
            hist.add(0, values[start : start + 1000])
        mean_errors, stated_mean, bin_errors, l1 = [], [], [], []
        within = 0
        for _ in range(runs):
            # a copy shares the exact totals; each release draws fresh noise
            released = copy.copy(mean).release().groups[0]
            mean_errors.append(abs(released.values["mean"] - true_mean))
            stated_mean.append(released.accuracy["mean"])
            within += stated_mean[-1] is not None and mean_errors[-1] <= stated_mean[-1]
            counts = copy.copy(hist).release().groups[0]
            errors = [abs(c - t) for c, t in zip(counts.values["counts"], true_bins, strict=True)]
            bin_errors.extend(errors)
            stated_bin = counts.accuracy["counts"]
            l1.append(sum(errors) / population)
        mean_errors.sort()
        bin_errors.sort()
        out[f"epsilon_{epsilon:g}"] = {
            "mean_relative_error_median": statistics.median(mean_errors) / true_mean,
            "mean_relative_error_p95": mean_errors[int(0.95 * (runs - 1))] / true_mean,
            "mean_stated_accuracy_95_relative": statistics.median(a for a in stated_mean if a is not None) / true_mean,
            "mean_within_stated_share": within / runs,
            "histogram_bin_abs_error_median": statistics.median(bin_errors),
            "histogram_bin_abs_error_p95": bin_errors[int(0.95 * (len(bin_errors) - 1))],
            "histogram_bin_stated_accuracy_95": stated_bin,
            "histogram_l1_error_per_customer_median": statistics.median(l1),
        }
    return out


def run(*, quick: bool) -> dict[str, Any]:
    sizes = (10_000, 100_000) if quick else (100_000, 1_000_000)
    # each query reads the whole population, so the largest is asked once (minutes on a shared 2-core machine)
    repeats = {size: 1 if quick or size == max(sizes) else 2 for size in sizes}
    runs = 50 if quick else 300
    result: dict[str, Any] = {"load_average_start": list(os.getloadavg()), "sizes": list(sizes)}
    tmp = Path(tempfile.mkdtemp(prefix="consentry-bench-analytics-"))
    try:
        with ServerProcess("benchmarks._synthetic_cloud", port=_free_port()) as source:
            data_dir = tmp / "data"
            upstreams = _registry(tmp / "upstreams.yaml", source.url, sizes)
            matrix = _matrix(tmp / "matrix.yaml")
            settings = Settings(data_dir=data_dir, upstreams_path=upstreams, matrix_path=matrix, database_url=None)
            runtime = Runtime.start(settings)
            try:
                _, secret = runtime.clients.register(
                    client_id="rnd",
                    name="R&D",
                    organization="stuttgart-rnd",
                    roles=("crm",),
                    scopes=("analytics",),
                    allowed_purposes=("joint_rnd",),
                    jurisdiction="DE",
                )
                started = time.perf_counter()
                _enrol(runtime.engine, max(sizes))
                result["enrol_seconds"] = time.perf_counter() - started
            finally:
                runtime.close()
            assert secret is not None
            environment = {
                "CONSENTRY_UPSTREAMS_PATH": str(upstreams),
                "CONSENTRY_MATRIX_PATH": str(matrix),
                "CONSENTRY_ANALYTICS_MAX_EPSILON": "10",
                "CONSENTRY_LOG_LEVEL": "warning",
            }
            for size in sizes:
                process, url = _serve(data_dir, environment, tmp / "gateway.log")
                try:
                    point: dict[str, Any] = {"rss_after_start_mib": _status_kib(process.pid, "VmRSS") / 1024}
                    source_name = f"synthetic-{size}"
                    for name, body in (
                        ("mean", {"statistic": "mean"}),
                        ("histogram_20_bins", {"statistic": "histogram", "bin_count": BINS}),
                    ):
                        seconds = []
                        for _ in range(repeats[size]):
                            query = {"source": source_name, "attribute": "mileage_km", "epsilon": 1.0, **body}
                            # a fresh token per query: one query over a million customers may outlast a token
                            bearer = httpx.post(
                                url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("rnd", secret)
                            ).json()["access_token"]
                            elapsed, answer = _query(url, bearer, query)
                            seconds.append(elapsed)
                        point[f"{name}_seconds"] = seconds
                        point[f"{name}_seconds_median"] = statistics.median(seconds)
                        point[f"{name}_customers_per_second"] = size / statistics.median(seconds)
                        point[f"{name}_last_answer"] = answer["groups"][0]["result"]
                    point["peak_rss_mib"] = _status_kib(process.pid, "VmHWM") / 1024
                    point["load_average"] = list(os.getloadavg())
                finally:
                    _stop(process)
                result[f"population_{size}"] = point
            small, large = (result[f"population_{s}"]["peak_rss_mib"] for s in sizes)
            result["peak_rss_ratio_largest_to_smallest"] = large / small
            result["population_ratio_largest_to_smallest"] = sizes[-1] / sizes[0]
        result["accuracy"] = _accuracy(max(sizes), runs)
        result["load_average_end"] = list(os.getloadavg())
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
