"""`consentry bench auth`: what the bearer-token check and token issuance cost, against a real server.

One `consentry serve` process (SQLite in a temporary data directory) and the loopback load generator.
In the same run it measures an unauthenticated route (`/healthz`, the peer: same stack, no auth), an
admin route behind the RFC 9068 bearer check (ES256 signature, revocation lookup, client lookup), and
the token endpoint (client_secret_basic, client credentials grant), at concurrency 1 and 16.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._loadgen import measure
from gateway.auth.clients import ClientRegistry
from gateway.store.database import create_db_engine

CONCURRENCIES = (1, 16)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        # One client hammers the token endpoint from one address: lift its rate limits out of the measurement.
        "CONSENTRY_TOKEN_RATE_PER_CLIENT": "1000000",
        "CONSENTRY_TOKEN_BURST_PER_CLIENT": "1000000",
        "CONSENTRY_TOKEN_RATE_PER_ADDRESS": "1000000",
        "CONSENTRY_TOKEN_BURST_PER_ADDRESS": "1000000",
    }
    env.pop("CONSENTRY_DATABASE_URL", None)
    consentry = str(Path(sys.executable).with_name("consentry"))
    process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [consentry, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not start")


def run(*, quick: bool) -> dict[str, Any]:
    duration = 2.0 if quick else 6.0
    results: dict[str, Any] = {"duration_s_per_point": duration}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        port = _free_port()
        process = _start(data_dir, port)
        try:
            engine = create_db_engine(f"sqlite:///{data_dir / 'consentry.db'}")
            _, secret = ClientRegistry(engine).register(
                client_id="bench-admin",
                name="bench",
                organization="bench",
                roles=["admin"],
                scopes=["admin"],
                jurisdiction="CN",
            )
            engine.dispose()
            assert secret is not None
            base = f"http://127.0.0.1:{port}"
            basic = base64.b64encode(f"bench-admin:{secret}".encode()).decode()
            token = httpx.post(
                f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=("bench-admin", secret)
            ).json()["access_token"]
            form = b"grant_type=client_credentials"
            for concurrency in CONCURRENCIES:
                common = {"concurrency": concurrency, "duration": duration, "warmup": 20 * concurrency}
                peer = measure(f"{base}/healthz", **common)
                bearer = measure(
                    f"{base}/v1/admin/clients/bench-admin", headers={"Authorization": f"Bearer {token}"}, **common
                )
                issue = measure(
                    f"{base}/oauth/token",
                    method="POST",
                    content=form,
                    headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
                    **common,
                )
                results[f"c{concurrency}"] = {
                    "healthz": peer.as_dict(),
                    "bearer_route": bearer.as_dict(),
                    "token_issuance": issue.as_dict(),
                    "bearer_throughput_ratio_vs_healthz": round(bearer.requests_per_s / peer.requests_per_s, 3),
                    "bearer_added_p50_ms": round(bearer.p50_ms - peer.p50_ms, 3),
                    "bearer_added_p99_ms": round(bearer.p99_ms - peer.p99_ms, 3),
                }
        finally:
            process.terminate()
            process.wait(timeout=15)
    return results
