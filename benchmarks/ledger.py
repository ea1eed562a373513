"""The ledger benchmark: durable appends/s, proof latency at a million leaves, storage, and pymerkle 7.

Figures (one JSON object):
- `fsync_per_s`: the raw rate of the data directory's disk for what a WAL commit costs (write one
  4 KiB page, then fdatasync, as SQLite does on Linux, one at a time), measured in the same run. N
  appenders that each keep ONE append outstanding can put at most N entries in a flush, so with
  flushes one after another no design beats `ceiling_per_s` = N x fsync_per_s (measured just before
  and after each run, averaged; the top-level figure is the median over the runs). PostgreSQL flushes
  its WAL one flush at a time, so this bounds it (its WAL is assumed on the same disk as the temporary
  directory); the SQLite sequencer overlaps flushes (see `ledger.store.sequencer.WalSyncer`), which
  this kind of virtual disk completes about as fast as one, so there `of_ceiling` can exceed 1;
- `appends_per_s`: durable (acknowledged = fsynced) appends per second on SQLite and PostgreSQL with
  1 and 8 concurrent appenders (`appenders` explains the load model), and on SQLite with 64, with
  `entries_per_commit` (the mean group-commit size), `cpu_us_per_append` (the whole process's CPU time,
  client side only), `fallbacks` (PostgreSQL one-trip batches that found the head moved and took the
  locked path; 0 with one process) and, for SQLite, `of_ceiling`;
- `sqlite_one_thread`: appends/s and CPU per append (that thread's own) of one thread appending 1, 4 or 8 events
  per `Ledger.append_many` on SQLite: each durable append with no hand-over between threads, at a fixed batch
  size. Against `appends_per_s` at the `entries_per_commit` its appenders reached, it separates what SQLite and
  the flush cost per commit from what handing appends between threads costs;
- `proofs`: p50/p99 milliseconds to build an inclusion and a consistency proof from the SQLite
  database at `leaves` leaves, for random sizes and indices, with the same figures for pymerkle 7's
  SQLite-backed tree on the same leaf data, and the ratios pymerkle / ours (> 1: we are faster).
  `p99_unpreempted_ms` is the p99 over the calls during which the OS did not take the CPU away
  from the thread (no involuntary context switch, RUSAGE_THREAD), and `preempted_share` the share
  that were: on a loaded host a preempted call waits a whole scheduler slice (milliseconds) that
  no code in the call can remove, so the two figures separate the library's tail from the host's.
  `blocked_share` (slept in the kernel: I/O) and `full_gc_share` (a generation-2 collection ran)
  name the other causes of a tail. `ours` is the second pass over the same proofs, when the pages
  they need are in the OS page cache as on a serving host; `ours_first_pass` keeps the first pass,
  whose tail (blocked_share > 0) is disk reads of pages the fill left out of the cache;
- `root`: milliseconds to compute the root of the full tree, ours and pymerkle's (cold);
- `tree_bytes_per_leaf`: on-disk bytes of the node table per leaf (SQLite dbstat).
The tree is filled through `Ledger.append_many` — the same node-computing code every append uses.
Set `CONSENTRY_TEST_POSTGRES_URL` for the PostgreSQL figures.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from pymerkle import SqliteTree
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger import Event, ProofError, consistency_proof, inclusion_proof, verify_inclusion
from ledger.store import Ledger

APPENDERS_MEANING = (
    "N threads in one process sharing one Ledger; each calls Ledger.append (one event with a small payload) "
    "and waits for its durable acknowledgement before sending the next, so at most N appends are outstanding"
)
PAGE = 4096
MANY_APPENDERS = 64
ONE_THREAD_BATCHES = (1, 4, 8)
FSYNC_FILE_PAGES = 1024  # cycle over 4 MiB, the size of SQLite's default WAL before a checkpoint resets it


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 4),
    }


def fsync_rate(directory: Path, seconds: float) -> float:
    """Page writes + fdatasync per second in `directory`: the cost of one WAL commit on that disk."""
    path = directory / f"fsync-probe-{uuid.uuid4().hex}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        page = os.urandom(PAGE)
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            os.pwrite(fd, page, (count % FSYNC_FILE_PAGES) * PAGE)
            os.fdatasync(fd)
            count += 1
        return round(count / elapsed, 1)
    finally:
        os.close(fd)
        path.unlink()


@contextmanager
def _postgres_database() -> Iterator[str | None]:
    url = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")
    if not url:
        yield None
        return
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    name = f"consentry_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _appends_per_second(url: str, appenders: int, seconds: float) -> dict[str, float]:
    ledger = Ledger.open(url)
    counts = [0] * appenders
    latencies: list[float] = []
    lock = threading.Lock()
    cpu_before = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    def work(worker: int) -> None:
        mine: list[float] = []
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            ledger.append(Event(type="bench.append", actor=f"appender:{worker}", payload={"n": counts[worker]}))
            mine.append(time.perf_counter() - began)
            counts[worker] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(appenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    commits, fallbacks = ledger.batch_counts()
    ledger.close()
    return {
        "appends_per_s": round(sum(counts) / elapsed, 1),
        "commits_per_s": round(commits / elapsed, 1),
        "entries_per_commit": round(sum(counts) / max(1, commits), 2),
        "fallbacks": fallbacks,
        "cpu_us_per_append": round(cpu * 1e6 / max(1, sum(counts)), 1),
        **_percentiles(latencies),
    }


def one_thread_batches(url: str, batch: int, seconds: float) -> dict[str, float]:
    """One thread (not the main one, so it commits and flushes itself) appending `batch` events per
    `Ledger.append_many`: a durable append with no hand-over between threads, at a fixed batch size. N appenders
    that each wait for their own answer cannot do better than this at the batch size they reach."""
    ledger = Ledger.open(url)
    counts: list[int] = []
    timing: dict[str, float] = {}

    def work() -> None:
        start, cpu_before = time.perf_counter(), time.thread_time()
        done = 0
        while time.perf_counter() - start < seconds:
            ledger.append_many(
                [Event(type="bench.append", actor="appender:0", payload={"n": done + n}) for n in range(batch)]
            )
            done += batch
        timing["elapsed"] = time.perf_counter() - start
        timing["cpu"] = time.thread_time() - cpu_before
        counts.append(done)

    commits_before = ledger.batch_counts()[0]
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    commits = ledger.batch_counts()[0] - commits_before
    ledger.close()
    return {
        "appends_per_s": round(counts[0] / timing["elapsed"], 1),
        "cpu_us_per_append": round(timing["cpu"] * 1e6 / counts[0], 1),
        "entries_per_commit": round(counts[0] / max(1, commits), 2),
    }


def _sqlite_appends(directory: Path, appenders: int, seconds: float) -> dict[str, float]:
    return _bracketed(directory, f"sqlite:///{directory / f'appends{appenders}.db'}", appenders, seconds)


def _bracketed(directory: Path, url: str, appenders: int, seconds: float) -> dict[str, float]:
    """Appends bracketed by fsync probes: the disk's rate drifts on a shared host, so take it around the run."""
    probe_s = min(1.0, seconds / 4)
    before = fsync_rate(directory, probe_s)
    figures = _appends_per_second(url, appenders, seconds)
    fsync_per_s = round((before + fsync_rate(directory, probe_s)) / 2, 1)
    ceiling = appenders * fsync_per_s
    return {
        **figures,
        "fsync_per_s": fsync_per_s,
        "ceiling_per_s": round(ceiling, 1),
        "of_ceiling": round(figures["appends_per_s"] / ceiling, 2),
    }


def _fill(ledger: Ledger, count: int) -> float:
    began = time.perf_counter()
    chunk = 50_000
    for start in range(0, count, chunk):
        ledger.append_many(
            [
                Event(type="bench.fill", actor="system", payload={"n": n})
                for n in range(start, min(count, start + chunk))
            ]
        )
    return time.perf_counter() - began


def _time_each(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def _time_each_unpreempted(calls: Sequence[Callable[[], object]]) -> dict[str, float]:
    """Wall-clock percentiles, the p99 of the calls the scheduler did not interrupt, and what else waited.

    `blocked_share`: calls that slept in the kernel (I/O, a lock); `full_gc_share`: calls during which
    Python ran a generation-2 collection. Together they say where a tail came from.
    """
    full_gcs = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_gcs[0] += 1

    every: list[float] = []
    whole: list[float] = []
    blocked = collected = 0
    gc.callbacks.append(on_gc)
    try:
        for call in calls:
            before = resource.getrusage(resource.RUSAGE_THREAD)
            gcs = full_gcs[0]
            began = time.perf_counter()
            call()
            took = time.perf_counter() - began
            after = resource.getrusage(resource.RUSAGE_THREAD)
            every.append(took)
            if after.ru_nivcsw == before.ru_nivcsw:
                whole.append(took)
            blocked += after.ru_nvcsw != before.ru_nvcsw
            collected += full_gcs[0] != gcs
    finally:
        gc.callbacks.remove(on_gc)
    return {
        **_percentiles(every),
        "p99_unpreempted_ms": _percentiles(whole or every)["p99_ms"],
        "preempted_share": round(1 - len(whole) / len(every), 3),
        "blocked_share": round(blocked / len(every), 3),
        "full_gc_share": round(collected / len(every), 3),
    }


def _proofs(tmp: Path, leaves: int, samples: int, peer_samples: int) -> dict[str, Any]:
    url = f"sqlite:///{tmp / 'proofs.db'}"
    ledger = Ledger.open(url)
    fill_s = _fill(ledger, leaves)
    rng = random.Random(9162)
    inclusion_args = []
    for _ in range(samples):
        size = rng.randint(leaves // 2, leaves)
        inclusion_args.append((rng.randrange(size), size))
    consistency_args = []
    for _ in range(samples):
        size2 = rng.randint(leaves // 2, leaves)
        consistency_args.append((rng.randint(1, size2 - 1), size2))

    began = time.perf_counter()
    our_root = ledger.root(leaves)
    root_ms = (time.perf_counter() - began) * 1000
    inclusion_calls = [partial(ledger.inclusion_proof, *a) for a in inclusion_args]
    consistency_calls = [partial(ledger.consistency_proof, *a) for a in consistency_args]
    first_pass = {
        "inclusion": _time_each_unpreempted(inclusion_calls),
        "consistency": _time_each_unpreempted(consistency_calls),
    }
    ours_inclusion = _time_each_unpreempted(inclusion_calls)
    ours_consistency = _time_each_unpreempted(consistency_calls)
    entries = ledger.entries(0, leaves)
    # Spot-check correctness on a prefix small enough for the in-memory reference builders.
    small = entries[:1000]
    for index, size in ((0, 1), (5, 1000), (999, 1000), (511, 513)):
        assert ledger.inclusion_proof(index, size) == inclusion_proof(small, index, size)
    assert ledger.consistency_proof(300, 1000) == consistency_proof(small, 300, 1000)
    with ledger.engine.connect() as conn:
        node_bytes = conn.exec_driver_sql("SELECT SUM(pgsize) FROM dbstat WHERE name = 'ledger_nodes'").scalar_one()
    ledger.close()

    peer = SqliteTree(str(tmp / "pymerkle.db"))
    began = time.perf_counter()
    peer.append_entries(entries)
    peer_fill_s = time.perf_counter() - began
    began = time.perf_counter()
    peer_root = peer.get_root(leaves)
    peer_root_ms = (time.perf_counter() - began) * 1000
    if peer_root != our_root:
        raise ProofError("pymerkle's root differs from ours on the same leaves")
    peer_inclusion = _time_each([partial(peer.prove_inclusion, i + 1, n) for i, n in inclusion_args[:peer_samples]])
    peer_consistency = _time_each([partial(peer.prove_consistency, *a) for a in consistency_args[:peer_samples]])
    index, size = inclusion_args[0]
    path = peer.prove_inclusion(index + 1, size).path
    verify_inclusion(path[0], index, size, path[1:], peer.get_root(size))
    peer.close()

    def ratio(theirs: list[float], ours: dict[str, float]) -> float:
        return round(statistics.median(theirs) * 1000 / ours["p50_ms"], 1)

    return {
        "leaves": leaves,
        "fill_s": {"ours": round(fill_s, 1), "pymerkle": round(peer_fill_s, 1)},
        "root_ms": {"ours": round(root_ms, 3), "pymerkle": round(peer_root_ms, 3)},
        "inclusion": {"ours": ours_inclusion, "pymerkle": _percentiles(peer_inclusion)},
        "consistency": {"ours": ours_consistency, "pymerkle": _percentiles(peer_consistency)},
        "ratio_pymerkle_over_ours": {
            "inclusion_p50": ratio(peer_inclusion, ours_inclusion),
            "consistency_p50": ratio(peer_consistency, ours_consistency),
            "root": round(peer_root_ms / root_ms, 1),
        },
        "ours_first_pass": first_pass,
        "samples": {"ours": samples, "pymerkle": peer_samples},
        "tree_bytes_per_leaf": round(int(node_bytes) / leaves, 1),
    }


def run(*, quick: bool) -> dict[str, Any]:
    seconds = 1.0 if quick else 6.0
    leaves = 50_000 if quick else 1_000_000
    result: dict[str, Any] = {
        "quick": quick,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "appenders": APPENDERS_MEANING,
        "appends_per_s": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for appenders in (1, 8):
            result["appends_per_s"][f"sqlite_{appenders}"] = _sqlite_appends(base, appenders, seconds)
            with _postgres_database() as pg:
                key = f"postgresql_{appenders}"
                if pg is None:
                    result["appends_per_s"][key] = "skipped: set CONSENTRY_TEST_POSTGRES_URL"
                else:
                    result["appends_per_s"][key] = _bracketed(base, pg, appenders, seconds)
        # Beyond the 1 and 8: with more appends outstanding a commit carries more, so this
        # shows whether the sequencer or the disk is the limit at 8.
        result["appends_per_s"][f"sqlite_{MANY_APPENDERS}"] = _sqlite_appends(base, MANY_APPENDERS, seconds)
        result["sqlite_one_thread"] = {
            f"batch_{batch}": one_thread_batches(f"sqlite:///{base / f'batches{batch}.db'}", batch, seconds / 2)
            for batch in ONE_THREAD_BATCHES
        }
        result["fsync_per_s"] = statistics.median(
            [figures["fsync_per_s"] for figures in result["appends_per_s"].values() if isinstance(figures, dict)]
        )
        result["proofs"] = _proofs(base, leaves, samples=300 if quick else 2000, peer_samples=30 if quick else 100)
    return result
