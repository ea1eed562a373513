"""The per-client rate limit of zero-knowledge predicate queries over real HTTP: every query spends the client's
allowance, answered and refused alike; beyond the burst the answer is 429 problem+json `too-many-requests` with
Retry-After, given before any proof is made or any ledger entry written; another client keeps its own allowance.

The gateway runs with a small limit (one query per 4 s sustained, a burst of 3) and no source system: the
customer registers their own city, which the marketing agency may ask predicates about with their consent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import httpx

from gateway.auth.customers import CustomerStore
from gateway.store.database import create_db_engine
from tests.e2e.conftest import CUSTOMER_PASSWORD, Gateway
from tests.e2e.test_credentials_api import assert_problem
from tests.e2e.test_customer_consents import grant_body

SUBJECT = "cust-2001"
CITY = {"op": "in", "operands": ["Shanghai", "Beijing"]}


def _customer_asking_for_city_predicates(gateway: Gateway) -> None:
    """A customer linked to SUBJECT who registered their city and consented to marketing predicates on it."""
    engine = create_db_engine(gateway.database_url)
    try:
        CustomerStore(engine).create(
            username="li.wei",
            password=CUSTOMER_PASSWORD,
            display_name="Li Wei",
            jurisdiction="CN",
            source_subject=SUBJECT,
        )
    finally:
        engine.dispose()
    with closing(gateway.customer_session("li.wei")) as http:
        assert http.put("/v1/me/zk/attributes/city", json={"value": "Shanghai"}).status_code == 200
        body = grant_body(
            http, purposes=["marketing"], categories=["location.city"], recipients=["org:bright-marketing"]
        )
        granted = http.post("/v1/me/consents", json=body)
        assert granted.status_code == 201, granted.text


def _query(http: httpx.Client, attribute: str, predicate: dict[str, Any]) -> httpx.Response:
    body = {
        "subject": SUBJECT,
        "attribute": attribute,
        "predicate": predicate,
        "purpose": "marketing",
        "nonce": secrets.token_urlsafe(18),
    }
    return http.post("/v1/zk/queries", json=body)


def _ledger_size(gateway: Gateway) -> int:
    with gateway.client(headers={"Authorization": f"Bearer {gateway.token('auditor')}"}) as http:
        return int(http.get("/v1/ledger/checkpoint").json()["size"])


def test_predicate_queries_beyond_the_per_client_burst_get_429_before_any_proof_or_ledger_entry(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(zk_query_rate="0.25", zk_query_burst="3", zk_threshold_queries="true")
    for client_id in ("marketing-crm", "marketing-batch"):
        gateway.register(client_id, ["crm"], ["zk"], organization="bright-marketing", allowed_purposes=["marketing"])
    gateway.register("auditor", ["auditor"], ["ledger:read"])
    _customer_asking_for_city_predicates(gateway)
    crm = gateway.client(headers={"Authorization": f"Bearer {gateway.token('marketing-crm')}"})
    batch = gateway.client(headers={"Authorization": f"Bearer {gateway.token('marketing-batch')}"})
    with crm, batch:
        assert _query(crm, "city", CITY).status_code == 200
        # the matrix gives the marketing agency no predicate on the birth date: refused, recorded, and counted
        refused = _query(crm, "age", {"op": ">=", "operands": [18]})
        assert_problem(refused, 403, "policy-refused")
        assert _query(crm, "city", CITY).status_code == 200

        size = _ledger_size(gateway)
        limited = _query(crm, "age", {"op": ">=", "operands": [18]})
        body = assert_problem(limited, 429, "too-many-requests")
        assert body["status"] == 429
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1
        assert _ledger_size(gateway) == size  # no refusal recorded for a query that was never asked

        answered = _query(batch, "city", CITY)  # another client has its own allowance
        assert answered.status_code == 200, answered.text
        assert answered.json()["holds"] is True

        time.sleep(retry_after)
        assert _query(crm, "city", CITY).status_code == 200
