"""Issue 17, point 6: a withdrawal in flight when the gateway is killed (SIGKILL) does not lock its
Idempotency-Key for 24 hours; after the claim's lease runs out the retry runs again and finds out whether the
write landed.

The kill lands mid-write for real: the test watches the gateway's database until the request has claimed its key,
takes SQLite's write lock so the request cannot finish (neither its ledger append nor storing its response), and
kills the process then. Whether the withdrawal itself committed first depends on where the request was; the retry
must answer truthfully either way: 200 (withdrawn now) or 409 `consent-state-conflict` (it had landed).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.e2e.conftest import Gateway

LEASE_SECONDS = "2"


def grant(http: httpx.Client) -> str:
    agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
    body = {
        "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
        "lang": "en",
        "purposes": ["repair_prediction"],
        "categories": ["vehicle"],
    }
    response = http.post("/v1/me/consents", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["record"]["record_id"])


def kill_mid_write(gateway: Gateway, http: httpx.Client, record_id: str, key: str) -> bool:
    """Send the withdrawal and SIGKILL the gateway while its claim is open; False if the request finished first."""
    database = gateway.database_url.removeprefix("sqlite:///")

    def withdraw() -> None:
        with contextlib.suppress(httpx.TransportError):  # killed under it
            http.post(f"/v1/me/consents/{record_id}/withdraw", headers={"Idempotency-Key": key})

    sender = threading.Thread(target=withdraw)
    watcher = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        sender.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sender.is_alive():
            claimed = watcher.execute("SELECT status_code FROM gw_idempotency_keys WHERE key = ?", (key,)).fetchone()
            if claimed is not None and claimed[0] is None:
                watcher.execute("BEGIN IMMEDIATE")  # the request can now commit nothing more
                still_open = watcher.execute(
                    "SELECT status_code FROM gw_idempotency_keys WHERE key = ? AND status_code IS NULL", (key,)
                ).fetchone()
                if still_open is not None:
                    gateway.process.kill()
                    gateway.process.wait()
                watcher.execute("ROLLBACK")
                return still_open is not None
        return False
    finally:
        sender.join(timeout=60)
        watcher.close()


def test_a_withdrawal_killed_mid_write_is_retried_after_the_lease(
    start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = start_gateway(idempotency_lease_seconds=LEASE_SECONDS)
    port = int(gateway.base_url.rsplit(":", 1)[1])
    username = f"crash.{uuid.uuid4().hex[:8]}"
    gateway.enrol(username)
    http = gateway.customer_session(username)
    record_id = grant(http)
    key = ""
    for _ in range(20):
        key = f"crash-{uuid.uuid4()}"
        if kill_mid_write(gateway, http, record_id, key):
            break
        grant(http)  # the withdrawal finished before the kill: give the consent again and try once more
    else:
        raise AssertionError("never caught the withdrawal between its claim and its response")

    restarted = start_gateway(port=port, data_dir=gateway.data_dir, idempotency_lease_seconds=LEASE_SECONDS)
    retry_http = restarted.customer_session(username)
    deadline = time.monotonic() + 60
    while True:
        retry = retry_http.post(f"/v1/me/consents/{record_id}/withdraw", headers={"Idempotency-Key": key})
        in_use = retry.status_code == 409 and retry.json()["type"].endswith("/idempotency-key-in-use")
        if not in_use or time.monotonic() > deadline:
            break
        time.sleep(int(retry.headers.get("retry-after", "1")))
    assert not in_use, "the claim of the killed request never expired"
    assert retry.status_code == 200 or retry.json()["type"].endswith("/consent-state-conflict"), retry.text
    records = {r["record_id"]: r for r in retry_http.get("/v1/me/consents").json()["records"]}
    assert records[record_id]["status"] == "withdrawn"
    replay = retry_http.post(f"/v1/me/consents/{record_id}/withdraw", headers={"Idempotency-Key": key})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.status_code == retry.status_code
