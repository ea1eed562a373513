"""Rectification over real HTTP (GDPR Art. 16, PIPL Art. 46): a real gateway process, real vehicle-cloud servers.

The customer corrects their phone number; the vehicle cloud's record changes; the request and its outcome are
two ledger entries that name the category and the sources but never the new number. A second source that is
down is retried and ends `failed` while the first is corrected. Bad categories and values are problems.
"""

from __future__ import annotations

import base64
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.auth.customers import CustomerStore
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import DEMO_UPSTREAMS_PATH
from gateway.store.database import create_db_engine
from ledger import parse_envelope
from tests.e2e.conftest import CUSTOMER_PASSWORD, _free_port

NEW_PHONE = "+86 139 0000 4242"


def _registry(path: Path, cloud_url: str, billing_port: int | None) -> Path:
    document = yaml.safe_load(DEMO_UPSTREAMS_PATH.read_text())
    (cloud,) = [u for u in document["upstreams"] if u["name"] == "vehicle-cloud"]
    cloud["base_url"] = cloud_url
    if billing_port is not None:
        billing = dict(cloud, name="billing", base_url=f"http://127.0.0.1:{billing_port}")
        billing["retries"] = {"attempts": 1, "backoff_initial": 0.0, "backoff_max": 0.0}
        document["upstreams"] = [cloud, billing]
    path.write_text(yaml.safe_dump(document))
    return path


def _enrol(database_url: str, subject: str) -> str:
    engine = create_db_engine(database_url)
    try:
        username = f"li.{uuid.uuid4().hex[:6]}"
        CustomerStore(engine).create(
            username=username,
            password=CUSTOMER_PASSWORD,
            display_name="Li Wei",
            jurisdiction="CN",
            source_subject=subject,
        )
    finally:
        engine.dispose()
    return username


def _wait(http: httpx.Client, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: dict[str, Any] = http.get(f"/v1/me/rectification/{request_id}").json()
        if status["status"] in ("completed", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"rectification stuck: {status}")


def test_a_corrected_phone_number_reaches_the_vehicle_cloud_and_the_ledger(start_gateway: Any, tmp_path: Path) -> None:
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as cloud:
        gateway = start_gateway(upstreams_path=str(_registry(tmp_path / "upstreams.yaml", cloud.url, None)))
        username = _enrol(gateway.database_url, "cust-1001")
        gateway.register("auditor", ["auditor"], ["ledger:read"])
        with closing(gateway.customer_session(username)) as http:
            offered = http.get("/v1/me/rectification").json()
            assert offered == {"categories": ["contact.email", "contact.phone", "identity.name"], "requests": []}
            accepted = http.post("/v1/me/rectification", json={"category": "contact.phone", "value": NEW_PHONE})
            assert accepted.status_code == 202, accepted.text
            done = _wait(http, accepted.json()["request_id"])
        assert done["status"] == "completed"
        assert [(s["source"], s["field"], s["status"]) for s in done["sources"]] == [
            ("vehicle-cloud", "/phone", "rectified")
        ]
        record = httpx.get(f"{cloud.url}/customers/cust-1001", timeout=10).json()
        assert record["phone"] == NEW_PHONE
        assert record["email"] == "li.wei@example.cn"  # nothing else changed

        with closing(gateway.client(headers={"Authorization": f"Bearer {gateway.token('auditor')}"})) as auditor:
            first, last = done["ledger_index"], done["ledger_completion_index"]
            leaves = auditor.get("/v1/ledger/entries", params={"start": first, "end": last + 1}).json()["entries"]
        by_index = {e["index"]: parse_envelope(base64.b64decode(e["data"])) for e in leaves}
        assert by_index[first]["type"] == "rectification.requested"
        assert by_index[last]["type"] == "rectification.completed"
        assert all(NEW_PHONE.encode() not in base64.b64decode(e["data"]) for e in leaves)


def test_a_source_that_stays_down_fails_while_the_other_is_corrected(start_gateway: Any, tmp_path: Path) -> None:
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as cloud:
        registry = _registry(tmp_path / "upstreams.yaml", cloud.url, _free_port())
        gateway = start_gateway(upstreams_path=str(registry), erasure_attempts="2", erasure_backoff_seconds="0.1")
        username = _enrol(gateway.database_url, "cust-1002")
        with closing(gateway.customer_session(username)) as http:
            accepted = http.post(
                "/v1/me/rectification", json={"category": "contact.email", "value": "anna@example.org"}
            )
            assert accepted.status_code == 202, accepted.text
            done = _wait(http, accepted.json()["request_id"])
        assert done["status"] == "failed"
        outcome = {s["source"]: (s["status"], s["attempts"]) for s in done["sources"]}
        assert outcome == {"billing": ("failed", 2), "vehicle-cloud": ("rectified", 1)}
        assert httpx.get(f"{cloud.url}/customers/cust-1002", timeout=10).json()["email"] == "anna@example.org"


def test_unknown_categories_and_malformed_values_are_problems(start_gateway: Any, tmp_path: Path) -> None:
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as cloud:
        gateway = start_gateway(upstreams_path=str(_registry(tmp_path / "upstreams.yaml", cloud.url, None)))
        username = _enrol(gateway.database_url, "cust-1003")
        with closing(gateway.customer_session(username)) as http:
            for body in (
                {"category": "identity.national_id", "value": "440305198812120027"},  # not correctable here
                {"category": "contact.phone", "value": "call me maybe"},
                {"category": "contact.email", "value": "no-at-sign"},
                {"category": "identity.name", "value": "Zhang\nMin"},
            ):
                refused = http.post("/v1/me/rectification", json=body)
                assert refused.status_code == 422, (body, refused.text)
                assert refused.headers["content-type"].startswith("application/problem+json")
            assert http.get("/v1/me/rectification").json()["requests"] == []
        assert httpx.get(f"{cloud.url}/customers/cust-1003", timeout=10).json()["phone"] == "+86 139 1088 2003"
