"""Guardians over real HTTP (issue 14, point 2): a minor cannot consent, the guardian linked to them can.

A seeded demo gateway in front of the vehicle cloud: wang.xiaoming (cust-1004) is a minor under PIPL and his
guardian wang.jun is linked by the demo seed. The minor's `POST /v1/me/consents` is refused with problem+json
naming who decides; the guardian gives the dealer repair prediction on the minor's behalf (every category confirmed
one by one: a child's data is sensitive under PIPL Art. 28), the record and its ledger entry say
`given_by: guardian` under the guardian's pseudonym, the dealer's next read releases the vehicle data, and the
guardian's withdrawal stops it again. An administrator links and unlinks guardians over the admin API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.demo import VehicleCloudProcess
from gateway.demo.seed import DemoWorld
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token
from tests.e2e.test_proxy import assert_problem, start_serve

MINOR = "/v1/proxy/vehicle-cloud/customers/cust-1004"
VEHICLE = ["vehicle.vin", "vehicle.fault_codes", "vehicle.mileage"]


@dataclass
class World:
    gateway: Gateway
    seeded: DemoWorld

    def session(self, username: str) -> httpx.Client:
        return self.gateway.customer_session(username, self.seeded.passwords[username])

    def dealer_read(self) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token(self.gateway.base_url, self.seeded, 'dealer')}",
            "Consentry-Purpose": "repair_prediction",
        }
        return httpx.get(self.gateway.base_url + MINOR, headers=headers, timeout=30)

    def ledger_entry(self, index: int) -> tuple[dict[str, object], dict[str, object]]:
        with Ledger.open(self.gateway.database_url, create=False) as ledger:
            return json.loads(ledger.entry(index)), dict(ledger.payload(index) or {})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("guardians")
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp / "data", upstream.url)
        gateway = start_serve(tmp, tmp / "data", upstreams)
        try:
            yield World(gateway, seeded)
        finally:
            _stop(gateway)


def _grant_body(catalog: dict[str, object]) -> dict[str, object]:
    agreement = catalog["agreement"]
    assert isinstance(agreement, dict)
    return {
        "purposes": ["repair_prediction"],
        "categories": VEHICLE,
        "recipients": ["role:dealer"],
        "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
        "separate": VEHICLE,
    }


def test_the_minor_cannot_consent_and_is_told_who_decides(world: World) -> None:
    with closing(world.session("wang.xiaoming")) as minor:
        body = _grant_body(minor.get("/v1/me/catalog").json())
        problem = assert_problem(minor.post("/v1/me/consents", json=body), 403, "guardian-consent-required")
        assert "PIPL" in str(problem["detail"]) and "14" in str(problem["detail"])
        assert "Wang Jun" in str(problem["detail"])
        decides = minor.get("/v1/me/guardians").json()
        assert decides == {
            "decided_by_guardian": True,
            "law": "PIPL",
            "guardian_consent_below": 14,
            "guardians": ["Wang Jun"],
        }
        assert minor.get("/v1/me/consents").status_code == 200
        assert minor.get("/v1/me/consents").json()["records"] == []
    with closing(world.session("li.wei")) as adult:
        assert adult.get("/v1/me/guardians").json()["decided_by_guardian"] is False


def test_the_guardian_gives_and_withdraws_for_the_minor_and_the_proxy_follows(world: World) -> None:
    before = world.dealer_read()
    assert_problem(before, 403, "access-refused")
    assert before.json()["withheld"]["vehicle.vin"] == ["no_consent"]

    with closing(world.session("wang.jun")) as guardian:
        wards = guardian.get("/v1/me/wards").json()
        assert [w["display_name"] for w in wards] == ["Wang Xiaoming"]
        minor_id = wards[0]["customer_id"]
        catalog = guardian.get(f"/v1/me/wards/{minor_id}/catalog").json()
        # a child's data is sensitive under PIPL: each category needs its own confirmation
        unconfirmed = dict(_grant_body(catalog), separate=[])
        refused = guardian.post(f"/v1/me/wards/{minor_id}/consents", json=unconfirmed)
        assert_problem(refused, 422, "separate-consent-required")

        given = guardian.post(f"/v1/me/wards/{minor_id}/consents", json=_grant_body(catalog))
        assert given.status_code == 201, given.text
        record = given.json()["record"]
        assert record["given_by"] == "guardian" and record["status"] == "given"

        envelope, payload = world.ledger_entry(record["ledger_index"])
        assert envelope["type"] == "consent.given"
        assert payload["given_by"] == "guardian"
        actor = str(envelope["actor"])
        assert re.fullmatch(r"guardian:[A-Za-z0-9_-]+", actor), actor
        assert minor_id not in actor and "wang" not in actor

        released = world.dealer_read()
        assert released.status_code == 200, released.text
        assert released.json()["data"]["vehicle"]["vin"] == "LSGBF53M8FS000456"

        state = guardian.get(f"/v1/me/wards/{minor_id}/consents").json()
        assert {c["category"] for c in state["cells"] if c["state"] == "given"} >= set(VEHICLE)

        withdrawn = guardian.post(f"/v1/me/wards/{minor_id}/consents/{record['record_id']}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text
        envelope, _ = world.ledger_entry(withdrawn.json()["record"]["ledger_index"])
        assert envelope["type"] == "consent.withdrawn" and envelope["actor"] == actor

    after = world.dealer_read()
    assert_problem(after, 403, "access-refused")
    assert after.json()["withheld"]["vehicle.vin"] == ["consent_withdrawn"]
    with closing(world.session("wang.xiaoming")) as minor:
        history = minor.get("/v1/me/consents/history").json()
        assert [e["status"] for e in history] == ["given", "withdrawn"]
        assert {e["actor"] for e in history} == {actor}


def test_a_guardian_reaches_only_their_own_wards(world: World) -> None:
    li_wei = world.seeded.customer_ids["cust-1001"]
    with closing(world.session("wang.jun")) as guardian:
        for path in (f"/v1/me/wards/{li_wei}/consents", f"/v1/me/wards/{li_wei}/catalog", "/v1/me/wards/x/consents"):
            assert_problem(guardian.get(path), 404, "not-found")
    with closing(world.session("li.wei")) as adult:
        assert adult.get("/v1/me/wards").json() == []
        minor_id = world.seeded.customer_ids["cust-1004"]
        assert_problem(adult.get(f"/v1/me/wards/{minor_id}/consents"), 404, "not-found")


def test_the_administrator_links_and_unlinks_a_guardian(world: World) -> None:
    world.gateway.register("admin", ["admin"], ["admin"])
    admin = {"Authorization": f"Bearer {world.gateway.token('admin')}"}
    with world.gateway.client(headers=admin) as http:
        # an adult is no ward, a minor is no guardian, and unknown accounts are named
        assert_problem(
            http.post("/v1/admin/guardians", json={"minor": "li.wei", "guardian": "zhang.min"}),
            422,
            "invalid-guardianship",
        )
        assert_problem(
            http.post("/v1/admin/guardians", json={"minor": "wang.xiaoming", "guardian": "wang.xiaoming"}),
            422,
            "invalid-guardianship",
        )
        assert_problem(
            http.post("/v1/admin/guardians", json={"minor": "wang.xiaoming", "guardian": "nobody.here"}),
            404,
            "not-found",
        )
        linked = http.post("/v1/admin/guardians", json={"minor": "wang.xiaoming", "guardian": "li.wei"})
        assert linked.status_code == 201, linked.text
        envelope, payload = world.ledger_entry(linked.json()["ledger_index"])
        assert envelope["type"] == "guardian.linked" and payload["guardian"] == linked.json()["guardian"]["pseudonym"]
        minor_id = world.seeded.customer_ids["cust-1004"]
        with closing(world.session("li.wei")) as second:
            assert second.get(f"/v1/me/wards/{minor_id}/consents").status_code == 200
            assert http.delete("/v1/admin/guardians/wang.xiaoming/li.wei").status_code == 200
            assert_problem(second.get(f"/v1/me/wards/{minor_id}/consents"), 404, "not-found")
        assert_problem(http.delete("/v1/admin/guardians/wang.xiaoming/li.wei"), 404, "not-found")
