"""Export and erasure over real HTTP: a real gateway process wired to real vehicle-cloud servers.

Two source systems are registered; the second is down when the customer asks for erasure, so the status
shows it being retried and failing while the first is erased, and a later request resumes it once it is up.
"""

from __future__ import annotations

import socket
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.auth.customers import CustomerStore
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import VEHICLE_CLOUD, demo_registry_document
from gateway.store.database import create_db_engine
from tests.e2e.conftest import CUSTOMER_PASSWORD


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry(path: Path, cloud_port: int, billing_port: int) -> Path:
    document = demo_registry_document({VEHICLE_CLOUD: f"http://127.0.0.1:{cloud_port}"})
    (cloud,) = document["upstreams"]
    billing = dict(cloud, name="billing", base_url=f"http://127.0.0.1:{billing_port}")
    billing["retries"] = {"attempts": 1, "backoff_initial": 0.0, "backoff_max": 0.0}
    document["upstreams"] = [cloud, billing]
    path.write_text(yaml.safe_dump(document))
    return path


def _poll(http: httpx.Client, request_id: str, until: set[str], seen: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status: dict[str, Any] = http.get(f"/v1/me/erasure/{request_id}").json()
        if not seen or seen[-1] != status["status"]:
            seen.append(status["status"])
        if status["status"] in until:
            return status
        time.sleep(0.05)
    raise AssertionError(f"erasure stuck at {seen}")


def test_export_then_erasure_with_per_source_status(start_gateway: Any, tmp_path: Path) -> None:
    cloud_port, billing_port = _port(), _port()
    registry = _registry(tmp_path / "upstreams.yaml", cloud_port, billing_port)
    with BackgroundServer(create_vehicle_cloud_app(), port=cloud_port) as cloud:
        gateway = start_gateway(upstreams_path=str(registry), erasure_attempts="3", erasure_backoff_seconds="0.3")
        engine = create_db_engine(gateway.database_url)
        try:
            store = CustomerStore(engine)
            username = f"li.{uuid.uuid4().hex[:6]}"
            store.create(
                username=username,
                password=CUSTOMER_PASSWORD,
                display_name="Li Wei",
                jurisdiction="CN",
                source_subject="cust-1001",
            )
            other = f"wang.{uuid.uuid4().hex[:6]}"
            store.create(username=other, password=CUSTOMER_PASSWORD, display_name="Wang", jurisdiction="CN")
        finally:
            engine.dispose()
        with closing(gateway.customer_session(username)) as http, closing(gateway.customer_session(other)) as stranger:
            exported = http.get("/v1/me/export", params={"lang": "en"})
            assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
            document = exported.json()
            assert document["sources"]["vehicle-cloud"]["data"]["vehicle"]["vin"] == "LSVAU2180N2183294"
            assert document["sources"]["billing"]["status"] == "unavailable"
            assert "Source systems: billing (unavailable), vehicle-cloud (exported)." in document["summary"]
            logged = http.get("/v1/me/accesses", params={"purpose": "data_portability"}).json()
            assert [a["ledger_index"] for a in logged] == [document["sources"]["vehicle-cloud"]["ledger_index"]]

            key = {"Idempotency-Key": str(uuid.uuid4())}
            accepted = http.post("/v1/me/erasure", headers=key)
            assert accepted.status_code == 202
            request_id = accepted.json()["request_id"]
            assert accepted.json()["status"] == "pending"
            assert {s["source"] for s in accepted.json()["sources"]} == {"billing", "vehicle-cloud"}
            assert stranger.get(f"/v1/me/erasure/{request_id}").status_code == 404
            seen: list[str] = ["pending"]
            failed = _poll(http, request_id, {"failed", "completed"}, seen)
            assert seen == ["pending", "in_progress", "failed"]
            sources = {s["source"]: s for s in failed["sources"]}
            assert sources["vehicle-cloud"]["status"] == "erased"
            assert sources["billing"]["status"] == "failed" and sources["billing"]["attempts"] == 3
            assert "cust-1001" not in cloud.app.state.customers  # type: ignore[attr-defined]

            with BackgroundServer(create_vehicle_cloud_app(), port=billing_port) as billing:
                resumed = http.post("/v1/me/erasure", headers={"Idempotency-Key": str(uuid.uuid4())})
                assert resumed.status_code == 202 and resumed.json()["request_id"] == request_id
                done = _poll(http, request_id, {"completed"}, seen)
                assert "cust-1001" not in billing.app.state.customers  # type: ignore[attr-defined]
            sources = {s["source"]: s["status"] for s in done["sources"]}
            assert sources == {"vehicle-cloud": "erased", "billing": "erased"}
            assert done["ledger_erasure_index"] is not None
            assert [r["request_id"] for r in http.get("/v1/me/erasure").json()] == [request_id]
            assert all(a["erased"] for a in http.get("/v1/me/accesses").json())
            replay = http.post("/v1/me/erasure", headers=key)
            assert replay.headers["idempotent-replayed"] == "true" and replay.json()["request_id"] == request_id
