"""`consentry serve --workers N`: several gateway processes on one embedded SQLite database behave as one
(issue 4, "Scale-out"): concurrent reads through different workers get distinct, contiguous ledger indices,
a withdrawal made through one worker is enforced by every worker on the very next request, and the ledger
audits clean from outside."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from gateway.demo.stack import DemoStack
from tests.e2e.conftest import _free_port


def _token(stack: DemoStack, client: str) -> str:
    assert stack.world is not None
    response = httpx.post(
        f"{stack.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client, stack.world.client_secrets[client]),
        timeout=30,
    )
    return str(response.json()["access_token"])


async def _read_many(stack: DemoStack, token: str, purpose: str, count: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}", "Consentry-Purpose": purpose}

    # a fresh connection per request, so the kernel spreads them over the workers' shared socket
    async def one() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.get(f"{stack.url}/v1/proxy/vehicle-cloud/customers/cust-1001", headers=headers)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def _workers(stack: DemoStack) -> list[str]:
    assert stack._gateway is not None
    found = subprocess.run(["pgrep", "-P", str(stack._gateway.pid)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def _server_side_owner(workers: list[str], server_port: int, client_port: int) -> str | None:
    """The worker holding the server end of the loopback connection from `client_port` (from /proc)."""
    inode = next(
        (
            fields[9]
            for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
            if fields[3] == "01"  # ESTABLISHED
            and int(fields[1].split(":")[1], 16) == server_port
            and int(fields[2].split(":")[1], 16) == client_port
        ),
        None,
    )
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    return None


def _read_on(connection: http.client.HTTPConnection, token: str, purpose: str) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}", "Consentry-Purpose": purpose}
    connection.request("GET", "/v1/proxy/vehicle-cloud/customers/cust-1001", headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _one_connection_per_worker(stack: DemoStack, token: str, purpose: str) -> dict[str, http.client.HTTPConnection]:
    """Open kept-alive connections until each worker holds one; returns one connection per worker."""
    workers = _workers(stack)  # the worker processes, and any other child uvicorn keeps (which holds none)
    held: dict[str, http.client.HTTPConnection] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(400):
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        assert _read_on(connection, token, purpose)[0] == 200
        owner = _server_side_owner(workers, stack.port, connection.sock.getsockname()[1])
        if owner is not None and owner not in held:
            held[owner] = connection
        else:
            spare.append(connection)
        if len(held) == stack.workers:
            break
    for connection in spare:
        connection.close()
    assert len(held) == stack.workers == 2, f"the kernel never handed a connection to every worker: {sorted(held)}"
    return held


def test_a_withdrawal_through_one_worker_is_enforced_by_each_worker_at_once(tmp_path: Path) -> None:
    """Each worker is pinned down by a kept-alive connection it holds (/proc tells which), so every worker is
    shown to refuse after the withdrawal, not just whichever the kernel happened to pick."""
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port(), workers=2) as stack:
        marketing = _token(stack, "marketing")
        per_worker = _one_connection_per_worker(stack, marketing, "marketing")
        try:
            withdrawn = subprocess.run(
                ["bash", "-c", stack.steps()[3].command], capture_output=True, text=True, timeout=60
            )
            assert '"withdrawn"' in withdrawn.stdout, withdrawn.stdout + withdrawn.stderr
            for worker, connection in per_worker.items():
                status, body = _read_on(connection, marketing, "marketing")
                assert status == 403, f"worker {worker} served a stale allow"
                assert "consent_withdrawn" in body["withheld"]["contact.phone"]
        finally:
            for connection in per_worker.values():
                connection.close()


def test_two_workers_on_one_sqlite_database_behave_as_one_gateway(tmp_path: Path) -> None:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port(), workers=2) as stack:
        assert len(_workers(stack)) >= 2, "uvicorn should run two worker processes"

        reads = asyncio.run(_read_many(stack, _token(stack, "dealer"), "service_delivery", 40))
        assert [r.status_code for r in reads] == [200] * 40
        indices = sorted(int(r.headers["Consentry-Ledger-Index"]) for r in reads)
        assert indices == list(range(indices[0], indices[0] + 40)), "appends from two processes never fork or skip"

        marketing = _token(stack, "marketing")
        assert {r.status_code for r in asyncio.run(_read_many(stack, marketing, "marketing", 6))} == {200}
        steps = stack.steps()
        withdrawn = subprocess.run(["bash", "-c", steps[3].command], capture_output=True, text=True, timeout=60)
        assert '"withdrawn"' in withdrawn.stdout, withdrawn.stdout + withdrawn.stderr
        after = asyncio.run(_read_many(stack, marketing, "marketing", 12))
        assert {r.status_code for r in after} == {403}, "no worker may serve a stale allow"
        assert all("consent_withdrawn" in json.loads(r.text)["withheld"]["contact.phone"] for r in after)

        audit = subprocess.run(["bash", "-c", steps[6].command], capture_output=True, text=True, timeout=120)
        assert audit.returncode == 0, audit.stdout + audit.stderr


def test_serve_refuses_zero_workers(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(DemoStack(tmp_path).consentry)), "serve", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"CONSENTRY_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr
