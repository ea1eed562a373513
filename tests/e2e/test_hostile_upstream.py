"""A hostile upstream against the proxy, over real HTTP: `consentry serve` in front of a server that answers
every read with 4 MiB of JSON holding ~2 million leaves (within the 4 MiB response cap).

Filtering used to run on the event loop, so each such read blocked every other request for 8-12 s. Now a
response with more leaves than the upstream's `limits.max_leaves` (100,000) is refused whole (502
`upstream-response-refused`, nothing released), counted without parsing it, and large responses are parsed and
filtered off the event loop: `/healthz`, probed from its own process, keeps answering within 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token
from tests.e2e.test_credentials_api import assert_problem
from tests.e2e.test_proxy import RECORD, start_serve
from tests.e2e.test_sign_in_flood import PROBE

HOSTILE_UPSTREAM = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEAVES = 2_000_000
BODY = b'{"name": "Li Wei", "junk": [' + b"0," * (LEAVES - 1) + b"0]}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@pytest.fixture
def hostile_upstream() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", HOSTILE_UPSTREAM, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise RuntimeError("the hostile upstream did not start") from None
                subprocess.run([sys.executable, "-c", "import time; time.sleep(0.1)"], check=True)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_two_million_leaves_are_refused_without_blocking_healthz(tmp_path: Path, hostile_upstream: str) -> None:
    seeded, upstreams = seed_data_dir(tmp_path / "data", hostile_upstream)
    gateway: Gateway = start_serve(tmp_path, tmp_path / "data", upstreams)
    try:
        bearer = {"Authorization": f"Bearer {token(gateway.base_url, seeded, 'dealer')}"}
        headers = {**bearer, "Consentry-Purpose": "service_delivery"}
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE, f"{gateway.base_url}/healthz", "15"], stdout=subprocess.PIPE, text=True
        )

        def read(_: int) -> httpx.Response:
            return httpx.get(gateway.base_url + RECORD, headers=headers, timeout=120)

        with ThreadPoolExecutor(max_workers=3) as pool:
            responses = list(pool.map(read, range(6)))
        out, _ = probe.communicate(timeout=120)
        health = json.loads(out)
        print(f"healthz max {max(health['latencies']):.3f} s over {len(health['latencies'])} probes")
        for response in responses:
            problem = assert_problem(response, 502, "upstream-response-refused")
            assert "data" not in problem and "Li Wei" not in response.text
        assert health["failures"] == 0
        assert max(health["latencies"]) < 1.0
    finally:
        _stop(gateway)
