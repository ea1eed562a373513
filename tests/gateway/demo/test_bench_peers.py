"""The proxy benchmark's second peer and its CPU accounting: a bare forwarding hop that passes a GET through
unchanged and does nothing else (benchmarks/_forwarder.py), and per-process CPU read from /proc
(benchmarks/_cpu.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from benchmarks._cpu import process_tree_cpu_s
from benchmarks._forwarder import create_forwarder_app
from gateway.demo import BackgroundServer, run_vehicle_cloud
from gateway.demo.server import ServerProcess
from tests.e2e.conftest import _free_port


@pytest.fixture
def upstream() -> Iterator[BackgroundServer]:
    with run_vehicle_cloud(_free_port()) as running:
        yield running


@pytest.fixture
def forwarder(upstream: BackgroundServer) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_forwarder_app(upstream.url), port=_free_port()) as running:
        yield running


def test_the_forwarder_passes_a_get_through_with_status_body_and_content_type(
    upstream: BackgroundServer, forwarder: BackgroundServer
) -> None:
    for path in ("/customers/cust-1001", "/customers/nobody"):
        direct = httpx.get(upstream.url + path)
        hop = httpx.get(forwarder.url + path)
        assert (hop.status_code, hop.content) == (direct.status_code, direct.content)
        assert hop.headers["content-type"] == direct.headers["content-type"]
    assert upstream.app.state.hits["GET /customers/cust-1001"] == 2  # type: ignore[attr-defined]


def test_the_forwarder_keeps_the_query_string(upstream: BackgroundServer, forwarder: BackgroundServer) -> None:
    assert httpx.get(forwarder.url + "/healthz?probe=1").status_code == 200
    assert upstream.app.state.hits["GET /healthz"] == 1  # type: ignore[attr-defined]


def test_the_forwarder_forwards_nothing_but_get(upstream: BackgroundServer, forwarder: BackgroundServer) -> None:
    response = httpx.delete(forwarder.url + "/customers/cust-1001")
    assert response.status_code == 405
    assert not any(key.startswith("DELETE") for key in upstream.app.state.hits)  # type: ignore[attr-defined]


def test_an_unreachable_upstream_is_a_502_not_a_crash() -> None:
    with BackgroundServer(create_forwarder_app(f"http://127.0.0.1:{_free_port()}"), port=_free_port()) as hop:
        first = httpx.get(hop.url + "/customers/cust-1001")
        again = httpx.get(hop.url + "/customers/cust-1001")
    assert (first.status_code, again.status_code) == (502, 502)
    assert first.text.startswith("upstream unreachable")


@pytest.mark.parametrize("url", ["https://127.0.0.1:1", "http://127.0.0.1:1/base", "127.0.0.1:1"])
def test_the_forwarder_refuses_an_upstream_it_cannot_reach_plainly(url: str) -> None:
    with pytest.raises(ValueError, match="plain http://host:port"):
        create_forwarder_app(url)


def test_the_forwarder_runs_as_its_own_process_like_the_benchmark_starts_it(upstream: BackgroundServer) -> None:
    with ServerProcess("benchmarks._forwarder", port=_free_port(), args=("--upstream", upstream.url)) as hop:
        assert hop.pid is not None and hop.pid != os.getpid()
        assert httpx.get(hop.url + "/customers/cust-1001").json()["name"] == "Li Wei"
    assert hop.pid is None


def test_a_bad_upstream_argument_is_a_usage_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks._forwarder", "--port", "1", "--upstream", "ftp://x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "plain http://host:port" in run.stderr


def test_cpu_of_a_process_tree_counts_its_children() -> None:
    """The parent only waits; the CPU measured is its child's, which spins for 0.6 s of CPU and then sleeps."""
    spin = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {spin!r}])"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        total = 0.0
        while time.monotonic() < deadline:
            measured = process_tree_cpu_s(parent.pid)
            assert measured is not None
            total = measured
            if total >= 0.6:
                break
            time.sleep(0.1)
        assert total >= 0.6
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_cpu_of_a_process_that_is_gone_is_unknown() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_tree_cpu_s(gone.pid) is None
