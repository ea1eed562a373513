"""Issue 17, point 10: one stored entry edited in the database is caught by the gateway itself and by the remote
auditor, not only by a local `ledger verify --db`.

The operator (or an intruder) changes entry 2 while the gateway is stopped and starts it again: the self-audit
at start-up re-hashes the stored entries against the latest signed checkpoint, so `/readyz` fails and the proxy
releases nothing (503); `consentry ledger verify --url` re-hashes every entry it fetches and names index 2.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner, Result

from gateway.cli import app
from ledger import Event
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _stop


def audit(gateway: Gateway, state: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "ledger",
            "verify",
            "--url",
            gateway.base_url,
            "--state",
            str(state),
            "--client-id",
            "auditor",
            "--client-secret",
            gateway.secrets["auditor"],
            *extra,
        ],
    )


def proxy_status(gateway: Gateway) -> tuple[int, str]:
    with gateway.client() as http:
        response = http.get(
            "/v1/proxy/vehicle-cloud/customers/cust-1",
            headers={"Authorization": f"Bearer {gateway.token('crm')}", "Consentry-Purpose": "service-reminder"},
        )
    return response.status_code, response.headers.get("content-type", "")


def test_an_edited_entry_fails_readiness_closes_the_proxy_and_is_named_by_the_remote_audit(
    start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = start_gateway()
    gateway.register("auditor", ["auditor"], ["ledger:read"])
    gateway.register("crm", ["crm"], ["proxy"], allowed_purposes=["service-reminder"])
    with Ledger.open(gateway.database_url, create=False) as ledger:
        ledger.append_many([Event("test.event", "test:original", None, {"n": n}) for n in range(5)])
    clean = audit(gateway, tmp_path / "before.json", "--json")
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.stdout)
    assert report["entries_checked"] == report["size"] >= 5
    with gateway.client() as http:
        assert http.get("/readyz").status_code == 200
    assert proxy_status(gateway)[0] == 404  # no such upstream: the proxy answers normally

    port = int(gateway.base_url.rsplit(":", 1)[1])
    _stop(gateway)
    database = gateway.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        (data,) = db.execute("SELECT data FROM ledger_entries WHERE idx = 2").fetchone()
        edited = bytes(data).replace(b"test:original", b"test:rewrite!")
        assert edited != bytes(data)
        db.execute("UPDATE ledger_entries SET data = ? WHERE idx = 2", (edited,))
    restarted = start_gateway(port=port, data_dir=gateway.data_dir)
    restarted.secrets.update(gateway.secrets)

    with restarted.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert "entry 2" in ready.json()["checks"]["ledger_integrity"]
    assert proxy_status(restarted) == (503, "application/problem+json")

    first_run = audit(restarted, tmp_path / "fresh.json")
    assert first_run.exit_code == 1
    assert "entry 2:" in first_run.stderr and "altered" in first_run.stderr
    sampled = audit(restarted, tmp_path / "sampled.json", "--sample", "200")
    assert sampled.exit_code == 1 and "entry 2:" in sampled.stderr
