"""Operations over real HTTP: liveness, readiness, Prometheus metrics and structured logs."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Actors


def test_healthz_and_readyz(actors: Actors) -> None:
    with actors.gateway.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["checks"] == {"database": "ok", "ledger": "ok", "ledger_integrity": "ok"}


def test_metrics_count_requests_by_route_template(actors: Actors) -> None:
    actors.gateway.register("operations-monitor", ["auditor"], ["metrics"])
    monitor = {"Authorization": f"Bearer {actors.gateway.token('operations-monitor')}"}
    with actors.gateway.client() as http:
        http.get(f"/v1/customers/{actors.customer_id}")
        text = http.get("/metrics", headers=monitor).text
    assert 'consentry_http_requests_total{method="GET",route="/v1/customers/{customer_id}",status="401"}' in text
    assert "consentry_http_request_duration_seconds_bucket" in text
    assert actors.customer_id not in text  # raw paths never become labels
    assert 'consentry_oauth_tokens_issued_total{client_id="admin"}' in text


def test_logs_are_json_lines_carrying_the_request_id_and_no_secrets(actors: Actors) -> None:
    gateway = actors.gateway
    with gateway.client() as http:
        http.get("/healthz", headers={"X-Request-ID": "log-probe-0001"})
    deadline = time.monotonic() + 10
    probe: list[dict[str, object]] = []
    while not probe and time.monotonic() < deadline:  # the access line is written after the response is sent
        events = [json.loads(line) for line in gateway.logs().splitlines() if line.startswith("{")]
        probe = [event for event in events if event.get("request_id") == "log-probe-0001"]
        time.sleep(0.05)
    assert probe
    assert probe[0]["event"] == "request"
    assert probe[0]["route"] == "/healthz"
    assert probe[0]["status"] == 200
    logs = gateway.logs()
    for line in logs.splitlines():
        assert json.loads(line)["event"], line  # uvicorn's and alembic's lines are JSON too
    assert gateway.secrets["admin"] not in logs
    assert actors.admin not in logs
