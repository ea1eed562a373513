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


def portal_sign_in(world: World, username: str, language: str = "en") -> httpx.Client:
    browser = world.gateway.client(headers={"Accept-Language": language})
    form = browser.get("/portal/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    credentials = {"username": username, "password": world.seeded.passwords[username]}
    assert browser.post("/portal/sign-in", data={"csrf_token": csrf.group(1), **credentials}).status_code == 303
    return browser


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_minors_portal_page_answers_and_explains_who_decides(world: World, language: str) -> None:
    with closing(portal_sign_in(world, "wang.xiaoming", language)) as browser:
        page = browser.get("/portal/consents")
        assert page.status_code == 200, page.text
        assert 'id="guardian-decides"' in page.text and "Wang Jun" in page.text and "PIPL" in page.text
        assert ("under 14" if language == "en" else "未满 14 周岁") in page.text
        assert 'action="/portal/consents/grant"' not in page.text and "/portal/consents/confirm?" not in page.text


def test_the_guardian_gives_consent_in_the_portal_on_the_minors_page(world: World) -> None:
    minor_id = world.seeded.customer_ids["cust-1004"]
    with closing(portal_sign_in(world, "wang.jun")) as browser:
        own = browser.get("/portal/consents")
        assert own.status_code == 200 and f"/portal/consents?ward={minor_id}" in own.text
        page = browser.get(f"/portal/consents?ward={minor_id}")
        assert page.status_code == 200 and 'id="guardian-acting"' in page.text and "Wang Xiaoming" in page.text
        # every category of a child's needs the named confirmation: the give button leads to it
        confirm = browser.get(
            "/portal/consents/confirm",
            params={"ward": minor_id, "recipient": "dealer-sh-4s", "purpose": "repair_prediction", "category": VEHICLE},
        )
        assert confirm.status_code == 200 and f'name="ward" value="{minor_id}"' in confirm.text
        notice = re.search(
            r'name="notice_version" value="([^"]+)".*?name="notice_sha256" value="([^"]+)"', confirm.text, re.S
        )
        assert notice is not None
        form = {
            "csrf_token": csrf_of(confirm.text),
            "confirmation": "1",
            "ward": minor_id,
            "recipient": "dealer-sh-4s",
            "purpose": "repair_prediction",
            "category": VEHICLE,
            "separate": VEHICLE,
            "notice_version": notice.group(1),
            "notice_sha256": notice.group(2),
        }
        given = browser.post("/portal/consents/grant", data=form)
        assert given.status_code == 303 and f"ward={minor_id}" in given.headers["location"]
        assert "done=given" in given.headers["location"]
    assert world.dealer_read().json()["data"]["vehicle"]["vin"] == "LSGBF53M8FS000456"
    with closing(world.session("wang.xiaoming")) as minor:
        records = minor.get("/v1/me/consents").json()["records"]
        given_now = [r for r in records if r["status"] == "given"]
        assert len(given_now) == 1 and given_now[0]["given_by"] == "guardian"
        # the minor may always withdraw: a withdrawal only narrows what is released
        assert minor.post(f"/v1/me/consents/{given_now[0]['record_id']}/withdraw").status_code == 200
    assert_problem(world.dealer_read(), 403, "access-refused")


def test_another_customers_ward_parameter_shows_nothing_of_the_minor(world: World) -> None:
    minor_id = world.seeded.customer_ids["cust-1004"]
    with closing(portal_sign_in(world, "li.wei")) as browser:
        page = browser.get(f"/portal/consents?ward={minor_id}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].endswith("/portal/consents?error=not-found")
