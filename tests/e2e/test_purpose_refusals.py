"""Every refusal is on the ledger, including purposes the client is not registered for (issue 16, point 6), over
real HTTP against a real server: a profile read across sources, a predicate query, a question to the wallet and an
aggregate query, each with a purpose the client is not registered for, get the documented 403
`purpose-not-allowed` naming an `access.refused` entry that an auditor finds through the ledger API."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.auth.customers import CustomerStore
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import VEHICLE_CLOUD, write_demo_registry
from gateway.store.database import create_db_engine
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _free_port, _stop, serve_on

CLIENT, ORGANIZATION = "dealer-crm", "dealer-sh-4s"
REGISTERED, UNREGISTERED = "repair_prediction", "service_delivery"
SUBJECT = "cust-1001"  # li.wei in the demo vehicle cloud
FAULT = {"op": "in", "operands": ["P0420", "P0300"]}
_PAYLOAD_KEYS = {
    *("recipient", "client_id", "purpose", "outcome", "reason", "released", "withheld"),
    *("upstream", "source", "attribute", "mode", "template"),
}
CATALYST = {"id": "catalyst-or-misfire", "attribute": "fault_code", "predicate": FAULT}


@dataclass
class World:
    gateway: Gateway
    token: str
    auditor: str
    customer_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("refusals")
    cloud = BackgroundServer(create_vehicle_cloud_app(), port=_free_port()).start()
    upstreams = write_demo_registry(tmp / "upstreams.yaml", {VEHICLE_CLOUD: cloud.url})
    port = _free_port()
    try:  # the source is stopped if the gateway never comes up
        gateway, _ = serve_on(
            tmp,
            port,
            CONSENTRY_UPSTREAMS_PATH=str(upstreams),
            CONSENTRY_ZK_THRESHOLD_QUERIES="true",  # so the predicate query reaches its purpose check
        )
    except BaseException:
        cloud.stop()
        raise
    database_url = gateway.database_url
    try:
        gateway.register(
            CLIENT,
            ["crm"],
            ["proxy", "zk", "analytics"],
            organization=ORGANIZATION,
            allowed_purposes=[REGISTERED],
        )
        gateway.register("auditor", ["auditor"], ["ledger:read"])
        engine = create_db_engine(database_url)
        try:
            customer = CustomerStore(engine).create(
                username="li.wei", password=None, display_name="Li Wei", jurisdiction="CN", source_subject=SUBJECT
            )
        finally:
            engine.dispose()
        yield World(gateway, gateway.token(CLIENT), gateway.token("auditor"), customer.customer_id)
    finally:
        _stop(gateway)
        cloud.stop()


def _question() -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "template": CATALYST,
        "subject": SUBJECT,
        "audience": f"org:{ORGANIZATION}",
        "purpose": UNREGISTERED,
        "nonce": secrets.token_urlsafe(18),
        "asked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _request(world: World, route: str) -> httpx.Response:
    purpose = {"Consentry-Purpose": UNREGISTERED}
    with closing(world.gateway.client(headers={"Authorization": f"Bearer {world.token}"})) as http:
        if route == "profile":
            return http.get(f"/v1/profiles/{SUBJECT}", headers=purpose)
        if route == "predicate-query":
            body = {
                "subject": SUBJECT,
                "attribute": "fault_code",
                "predicate": FAULT,
                "purpose": UNREGISTERED,
                "nonce": secrets.token_urlsafe(18),
            }
            return http.post("/v1/zk/queries", json=body)
        if route == "wallet-question":
            return http.post("/v1/zk/questions", json={"question": _question(), "wait": 1}, timeout=60)
        aggregate = {"source": "vehicle-cloud", "statistic": "mean", "attribute": "mileage_km", "epsilon": 1.0}
        return http.post("/v1/analytics/queries", json=aggregate, headers=purpose)


@pytest.mark.parametrize("route", ["profile", "predicate-query", "wallet-question", "aggregate-query"])
def test_a_purpose_the_client_is_not_registered_for_is_refused_on_the_ledger(world: World, route: str) -> None:
    refused = _request(world, route)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/purpose-not-allowed")
    index = int(refused.headers["Consentry-Ledger-Index"])
    assert problem["ledger_index"] == index

    with closing(world.gateway.client(headers={"Authorization": f"Bearer {world.auditor}"})) as http:
        page = http.get("/v1/ledger/events", params={"after": index - 1, "limit": 1})
    assert page.status_code == 200, page.text
    (entry,) = page.json()["events"]
    assert entry["index"] == index and entry["type"] == "access.refused"
    assert entry["actor"] == f"client:{CLIENT}" and entry["recipient"] == ORGANIZATION
    assert entry["purpose"] == UNREGISTERED
    assert world.customer_id not in page.text  # the ledger knows customers by pseudonym only
    if route in ("predicate-query", "wallet-question"):  # the customer asked about sees the attempt
        assert entry["subject"] != f"client:{CLIENT}"

    with Ledger.open(world.gateway.database_url, create=False) as ledger:  # the payload the auditor's proof hashes
        salted = ledger.salted_payload(index)
    assert salted is not None
    payload = json.loads(salted[1])
    assert payload["client_id"] == CLIENT and payload["outcome"] == "refused"
    assert payload["reason"] == "purpose-not-allowed" and payload["released"] == [] and payload["withheld"] == {}
    assert set(payload) <= _PAYLOAD_KEYS, set(payload) - _PAYLOAD_KEYS  # route and target, never a value
