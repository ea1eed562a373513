"""`/metrics` is not public (it lists every client id that got a token): it needs the `metrics` scope, or is
served on a separate listen address (`CONSENTRY_METRICS_ADDRESS`) and then not on the public port at all."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.conftest import Gateway, _free_port
from tests.e2e.test_credentials_api import assert_problem


def test_metrics_need_the_metrics_scope(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway()
    gateway.register("crm", ["crm"], ["proxy"])
    gateway.register("prometheus", ["auditor"], ["metrics"])
    crm, monitor = gateway.token("crm"), gateway.token("prometheus")
    with gateway.client() as http:
        anonymous = http.get("/metrics")
        assert_problem(anonymous, 401, "unauthorized")
        assert "crm" not in anonymous.text
        assert_problem(http.get("/metrics", headers={"Authorization": f"Bearer {crm}"}), 403, "insufficient-scope")
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {monitor}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'consentry_oauth_tokens_issued_total{client_id="crm"}' in scraped.text


def test_a_crm_cannot_be_granted_the_metrics_scope(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway()
    gateway.register("admin", ["admin"], ["admin"])
    with gateway.client(headers={"Authorization": f"Bearer {gateway.token('admin')}"}) as http:
        body = {"name": "n", "organization": "o", "roles": ["crm"], "scopes": ["metrics"], "jurisdiction": "CN"}
        assert http.post("/v1/admin/clients", json=body).status_code == 422
        body["roles"] = ["auditor"]
        assert http.post("/v1/admin/clients", json=body).status_code == 201


def test_a_separate_metrics_address_serves_them_and_the_public_port_does_not(
    start_gateway: Callable[..., Gateway],
) -> None:
    metrics_port = _free_port()
    gateway = start_gateway(metrics_address=f"127.0.0.1:{metrics_port}")
    gateway.register("prometheus", ["auditor"], ["metrics"])
    token = gateway.token("prometheus")
    with gateway.client() as http:
        http.get("/healthz")
        assert_problem(http.get("/metrics", headers={"Authorization": f"Bearer {token}"}), 404, "not-found")
        assert_problem(http.get("/metrics"), 404, "not-found")
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)
    assert scraped.status_code == 200
    assert 'consentry_http_requests_total{method="GET",route="/healthz",status="200"}' in scraped.text
    assert 'consentry_oauth_tokens_issued_total{client_id="prometheus"}' in scraped.text
