"""`consentry serve --workers N`: several gateway processes on one embedded SQLite database behave as one
(issue 4, "Scale-out"): concurrent reads through different workers get distinct, contiguous ledger indices,
a withdrawal made through one worker is enforced by every worker on the very next request, and the ledger
audits clean from outside."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

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
