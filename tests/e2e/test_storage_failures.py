"""Issue 17, point 8: when the disk is full, every write answers 503 problem+json (never 500) and `/readyz` fails.

The full disk is real to the gateway: its file-size limit (RLIMIT_FSIZE, set from outside with prlimit) is
lowered below the size of its database files, so the kernel refuses every write that would extend them
(EFBIG, as ENOSPC would on a full file system; Python ignores SIGXFSZ). Raising the limit again is the operator
freeing space: the gateway is ready again without a restart. The gateway writes its logs to /dev/null here,
since a log file would hit the same limit.
"""

from __future__ import annotations

import os
import resource
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, _wait_ready

PROBLEM = "application/problem+json"
FULL_DISK_BYTES = 4096  # below the first page of every database file: no write that extends one can land


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port = _free_port()
    data_dir = tmp_path / "data"
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
    }
    environment.pop("CONSENTRY_DATABASE_URL", None)
    log_path = tmp_path / "gateway.log"
    log_path.touch()
    process = subprocess.Popen(
        [CONSENTRY, "serve"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started = Gateway(
        f"http://127.0.0.1:{port}", data_dir, f"sqlite:///{(data_dir / 'consentry.db').resolve()}", log_path, process
    )
    try:
        _wait_ready(started)
        yield started
    finally:
        _stop(started)


def grant_body(http: httpx.Client) -> dict[str, object]:
    agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
    notice = {"version": agreement["version"], "sha256": agreement["sha256"]}
    return {"notice": notice, "lang": "en", "purposes": ["repair_prediction"], "categories": ["vehicle"]}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"].isdigit()
    assert response.json()["type"] == "https://consentry.dev/problems/storage-unavailable"


def test_a_full_disk_answers_503_everywhere_and_readiness_fails_until_space_is_freed(gateway: Gateway) -> None:
    username = f"disk.{uuid.uuid4().hex[:8]}"
    gateway.enrol(username)
    http = gateway.customer_session(username)
    granted = http.post("/v1/me/consents", json=grant_body(http))
    assert granted.status_code == 201, granted.text
    record_id = granted.json()["record"]["record_id"]
    assert http.get("/readyz").status_code == 200

    pid = gateway.process.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (FULL_DISK_BYTES, hard))
    try:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.headers["content-type"] == PROBLEM
        assert ready.json()["checks"]["ledger"].startswith("failed: ")

        assert_unavailable(http.post(f"/v1/me/consents/{record_id}/withdraw"))
        assert_unavailable(
            http.post(f"/v1/me/consents/{record_id}/withdraw", headers={"Idempotency-Key": f"full-disk-{uuid.uuid4()}"})
        )
        assert_unavailable(http.post("/v1/me/consents", json=grant_body(http)))
        with gateway.client() as anonymous:
            assert_unavailable(anonymous.post("/v1/session", json={"username": username, "password": "wrong"}))
        export = http.get("/v1/me/export")  # reads alone still answer; anything it must write is a 503
        assert export.status_code == 200 or export.headers["content-type"] == PROBLEM
        assert export.status_code in (200, 503)
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

    assert http.get("/readyz").status_code == 200
    withdrawn = http.post(f"/v1/me/consents/{record_id}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
