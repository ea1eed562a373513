"""The proxy over real HTTP: a `consentry serve` subprocess in front of a vehicle-cloud subprocess.

Issue 4, "The proxy (CRM)": only released categories leave (nested objects, arrays, unmapped fields
withheld), the declared purpose is required and must be the client's, unknown sources and subjects answer
like a missing record, the access is in the ledger before data is returned, and the gateway fails closed
when the ledger or the upstream is down. Every error is RFC 9457 problem+json.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.demo import VehicleCloudProcess
from gateway.demo.seed import DemoWorld
from gateway.rights.points import points_balance
from gateway.routers.proxy import MayIAnswer, ProxyRead
from gateway.store.database import create_db_engine
from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, _wait_ready
from tests.e2e.proxy_world import seed_data_dir, token

PROBLEM = "application/problem+json"
RECORD = "/v1/proxy/vehicle-cloud/customers/cust-1001"


@dataclass
class World:
    gateway: Gateway
    seeded: DemoWorld
    upstream: VehicleCloudProcess

    def token(self, client_id: str, scope: str | None = None) -> str:
        return token(self.gateway.base_url, self.seeded, client_id, scope)

    def get(self, path: str, client_id: str, purpose: str | None, *, scope: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(client_id, scope)}"}
        if purpose is not None:
            headers["Consentry-Purpose"] = purpose
        return httpx.get(self.gateway.base_url + path, headers=headers, timeout=30)


def start_serve(tmp: Path, data_dir: Path, upstreams: Path, **env: str) -> Gateway:
    port = _free_port()
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        "CONSENTRY_UPSTREAMS_PATH": str(upstreams),
        **env,
    }
    if "CONSENTRY_DATABASE_URL" not in env:
        environment.pop("CONSENTRY_DATABASE_URL", None)
    database_url = environment.get("CONSENTRY_DATABASE_URL") or f"sqlite:///{(data_dir / 'consentry.db').resolve()}"
    log_path = tmp / f"gateway-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    gateway = Gateway(f"http://127.0.0.1:{port}", data_dir, database_url, log_path, process)
    try:
        _wait_ready(gateway)
    except BaseException:
        _stop(gateway)
        raise
    return gateway


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("proxy")
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp / "data", upstream.url)
        gateway = start_serve(tmp, tmp / "data", upstreams)
        try:
            yield World(gateway, seeded, upstream)
        finally:
            _stop(gateway)


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"https://consentry.dev/problems/{kind}"
    assert body["status"] == status and body["title"] and "traceback" not in response.text.lower()
    return dict(body)


def ledger_size(world: World) -> int:
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        return ledger.size()


def test_dealership_gets_vin_and_fault_codes_but_never_the_national_id(world: World) -> None:
    response = world.get(RECORD, "dealer", "service_delivery")
    assert response.status_code == 200, response.text
    body = response.json()
    data = body["data"]
    # nested objects: the released leaves of `vehicle` stay, the precise location inside `location` goes
    assert data["vehicle"] == {"vin": "LSVAU2180N2183294", "mileage_km": 38210, "fault_codes": ["P0301", "P0420"]}
    assert data["location"] == {"city": "Shanghai"}
    assert "national_id" not in data and "birth_date" not in data and "driving" not in data
    # unmapped fields are withheld whatever the decision
    assert "telematics_unit" not in data and body["unmapped_withheld"] >= 1
    assert body["withheld"]["identity.national_id"] == ["matrix_deny"]
    assert {"vehicle.vin", "vehicle.fault_codes"} <= set(body["released"])
    assert response.headers["Consentry-Ledger-Index"] == str(body["ledger_index"])
    assert response.headers["cache-control"] == "no-store"
    # the body is the documented `ProxyRead`, field for field
    assert set(body) == set(ProxyRead.model_fields) and ProxyRead.model_validate(body).data == data


def test_the_access_is_in_the_ledger_with_who_whom_why_and_what(world: World) -> None:
    body = world.get(RECORD, "dealer", "service_delivery").json()
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        payload = ledger.payload(body["ledger_index"])
        entry = ledger.entry(body["ledger_index"])
    assert payload is not None
    assert payload["recipient"] == "dealer-sh-4s" and payload["purpose"] == "service_delivery"
    assert payload["upstream"] == "vehicle-cloud" and payload["outcome"] == "released"
    assert payload["released"] == body["released"] and payload["withheld"] == body["withheld"]
    assert payload["matrix_version"] == body["matrix_version"]
    # the leaf carries the pseudonym, never the customer number; the payload names no customer either
    assert b"cust-1001" not in entry and world.seeded.customer_ids["cust-1001"].encode() not in entry
    assert "cust-1001" not in json.dumps(payload)


def test_arrays_lose_the_elements_fields_of_withheld_categories(world: World) -> None:
    body = world.get(RECORD, "rnd", "joint_rnd").json()
    trips = body["data"]["driving"]["trips"]
    assert len(trips) == 2
    # driving is released to R&D, but each trip's start/end are also precise location (deny wins)
    assert all("start" not in trip and "end" not in trip and "distance_km" in trip for trip in trips)
    assert "name" not in body["data"] and "phone" not in body["data"]


def test_a_purpose_with_a_value_offer_earns_points_in_the_same_entry(world: World) -> None:
    engine = create_db_engine(world.gateway.database_url)
    try:
        before = points_balance(engine, world.seeded.customer_ids["cust-1002"])
        body = world.get("/v1/proxy/vehicle-cloud/customers/cust-1002", "rnd", "joint_rnd").json()
        after = points_balance(engine, world.seeded.customer_ids["cust-1002"])
    finally:
        engine.dispose()
    assert body["points_accrued"] == 5 and after == before + 5
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        assert (ledger.payload(body["ledger_index"]) or {})["points"] == 5


def test_nothing_releasable_is_refused_and_still_recorded(world: World) -> None:
    # cust-1004 is a minor: the matrix denies marketing everything
    response = world.get("/v1/proxy/vehicle-cloud/customers/cust-1004", "marketing", "marketing")
    body = assert_problem(response, 403, "access-refused")
    assert "matrix_deny" in body["withheld"]["contact.phone"]  # type: ignore[index]
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        assert (ledger.payload(int(body["ledger_index"])) or {})["outcome"] == "refused"  # type: ignore[call-overload]


def test_purpose_missing_is_400_and_not_registered_is_403(world: World) -> None:
    assert_problem(world.get(RECORD, "dealer", None), 400, "purpose-required")
    assert_problem(world.get(RECORD, "dealer", "marketing"), 403, "purpose-not-allowed")


def test_wrong_scope_and_wrong_role_and_no_token(world: World) -> None:
    assert_problem(world.get(RECORD, "dealer", "service_delivery", scope="zk"), 403, "insufficient-scope")
    assert_problem(world.get(RECORD, "auditor", "service_delivery"), 403, "insufficient-scope")
    response = httpx.get(world.gateway.base_url + RECORD, headers={"Consentry-Purpose": "service_delivery"})
    assert_problem(response, 401, "unauthorized")


def test_unknown_source_resource_and_subject_answer_alike(world: World) -> None:
    hits_before = ledger_size(world)
    bodies = [
        assert_problem(world.get(path, "dealer", "service_delivery"), 404, "not-found")
        for path in (
            "/v1/proxy/billing/customers/cust-1001",
            "/v1/proxy/vehicle-cloud/accounts/cust-1001",
            "/v1/proxy/vehicle-cloud/customers/cust-9999",
            "/v1/proxy/vehicle-cloud/customers/cust%201001",
        )
    ]
    assert {body["detail"] for body in bodies} == {"No such record."}
    assert ledger_size(world) == hits_before


def test_may_i_answers_per_category_without_calling_the_upstream(world: World) -> None:
    response = world.get("/v1/decisions/vehicle-cloud/customers/cust-1001", "dealer", "service_delivery")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == set(MayIAnswer.model_fields) and MayIAnswer.model_validate(body).purpose == "service_delivery"
    assert body["categories"]["vehicle.vin"] == {"allowed": True, "reasons": []}
    assert body["categories"]["identity.national_id"] == {"allowed": False, "reasons": ["matrix_deny"]}
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        entry = ledger.entry(body["ledger_index"])
    assert b'"access.check"' in entry
    assert_problem(
        world.get("/v1/decisions/vehicle-cloud/customers/cust-9999", "dealer", "service_delivery"), 404, "not-found"
    )


def _without_ledger_index(response: httpx.Response) -> tuple[int, str, dict[str, object]]:
    body = dict(response.json())
    body.pop("ledger_index", None)
    assert body.pop("request_id", response.headers["x-request-id"]) == response.headers["x-request-id"]
    return response.status_code, response.headers["content-type"], body


# What may differ between two answers to the same read: the time, and the ledger index (and so the body's length).
_VARYING = {"date", "consentry-ledger-index", "content-length"}


def _head(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k.lower(), "" if k.lower() in _VARYING else v) for k, v in response.headers.multi_items()]


@pytest.mark.parametrize(
    ("path", "client_id", "purpose", "extra"),
    [
        (RECORD, "dealer", "service_delivery", []),
        ("/v1/decisions/vehicle-cloud/customers/cust-1001", "dealer", "service_delivery", []),
        (RECORD, "dealer", None, []),
        (RECORD, "dealer", "marketing", []),
        ("/v1/proxy/vehicle-cloud/customers/cust-9999", "dealer", "service_delivery", []),
        ("/v1/proxy/vehicle-cloud/customers/cust-1004", "marketing", "marketing", []),
        (RECORD, None, "service_delivery", []),
        (RECORD, "dealer", "service_delivery", [("Consentry-Purpose", "marketing")]),
    ],
    ids=["read", "may-i", "no-purpose", "purpose-not-allowed", "not-found", "refused", "no-token", "repeated-purpose"],
)
def test_the_direct_path_answers_as_the_full_stack_does(
    world: World, path: str, client_id: str | None, purpose: str | None, extra: list[tuple[str, str]]
) -> None:
    """A GET that announces a body is left to FastAPI's full stack; any other GET of these routes is served
    directly (`gateway.web.direct_routes`). Both must give the same answer, headers and problem documents."""
    headers = [("X-Request-ID", "e2e-direct-0001")]
    if client_id is not None:
        headers.append(("Authorization", f"Bearer {world.token(client_id)}"))
    if purpose is not None:
        headers.append(("Consentry-Purpose", purpose))
    headers.extend(extra)
    url = world.gateway.base_url + path
    direct = httpx.get(url, headers=headers, timeout=30)
    full = httpx.request("GET", url, headers=headers, content=b"{}", timeout=30)
    assert _without_ledger_index(direct) == _without_ledger_index(full)
    assert _head(direct) == _head(full)
    assert direct.headers["x-request-id"] == "e2e-direct-0001"
    fresh = [httpx.get(url, headers=headers[1:], timeout=30).headers.get_list("x-request-id") for _ in range(2)]
    assert len(fresh[0]) == len(fresh[1]) == 1 and fresh[0] != fresh[1]


def test_direct_reads_are_counted_under_their_route_template(world: World) -> None:
    assert world.get(RECORD, "dealer", "service_delivery").status_code == 200
    world.gateway.register("proxy-monitor", ["auditor"], ["metrics"])
    monitor = {"Authorization": f"Bearer {world.gateway.token('proxy-monitor')}"}
    metrics = httpx.get(world.gateway.base_url + "/metrics", headers=monitor, timeout=30).text
    assert 'route="/v1/proxy/{source}/{path:path}",status="200"' in metrics


def test_fails_closed_when_the_ledger_cannot_write(world: World) -> None:
    database = world.gateway.database_url.removeprefix("sqlite:///")
    size = ledger_size(world)
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_appends BEFORE INSERT ON ledger_entries BEGIN SELECT RAISE(ABORT, 'disk'); END"
        )
    try:
        response = world.get(RECORD, "dealer", "service_delivery")
    finally:
        with sqlite3.connect(database) as conn:
            conn.execute("DROP TRIGGER refuse_appends")
    body = assert_problem(response, 503, "ledger-unavailable")
    assert "LSVAU2180N2183294" not in response.text and "data" not in body
    assert ledger_size(world) == size
    # the ledger recovers once it can write again
    assert world.get(RECORD, "dealer", "service_delivery").status_code == 200


def test_fails_closed_when_the_upstream_is_down(tmp_path: Path) -> None:
    port = _free_port()
    with VehicleCloudProcess(port=port) as upstream:
        seeded, upstreams = seed_data_dir(tmp_path / "data", upstream.url)
    # the vehicle cloud is stopped now: unreachable, then the breaker opens
    gateway = start_serve(tmp_path, tmp_path / "data", upstreams)
    try:
        world = World(gateway, seeded, upstream)
        statuses = [world.get(RECORD, "dealer", "service_delivery") for _ in range(6)]
        assert_problem(statuses[0], 502, "upstream-unavailable")
        opened = assert_problem(statuses[-1], 503, "upstream-circuit-open")
        assert int(statuses[-1].headers["Retry-After"]) >= 1 and "data" not in opened
    finally:
        _stop(gateway)
