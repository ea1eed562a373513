"""The rights the agreement promises, in the portal, over real HTTP (issue 14, point 6).

A seeded demo gateway in front of the vehicle cloud. Anna Schmidt (DE) objects to the dealer's repair prediction,
which rests on a legitimate interest (GDPR Art. 21), and restricts processing (Art. 18); Li Wei (CN) gives a
consent until a date she chooses, and a consent that ends lapses on its own with a ledger entry. Each choice is a
ledger entry and each changes the partner's very next proxied read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.demo import VehicleCloudProcess
from gateway.demo.seed import DemoWorld
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token
from tests.e2e.test_proxy import assert_problem, start_serve

ANNA = "/v1/proxy/vehicle-cloud/customers/cust-1002"
LI_WEI = "/v1/proxy/vehicle-cloud/customers/cust-1001"


@dataclass
class World:
    gateway: Gateway
    seeded: DemoWorld

    def read(self, path: str, client_id: str, purpose: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token(self.gateway.base_url, self.seeded, client_id)}",
            "Consentry-Purpose": purpose,
        }
        return httpx.get(self.gateway.base_url + path, headers=headers, timeout=30)

    def portal(self, username: str) -> httpx.Client:
        browser = self.gateway.client()
        csrf = _csrf(browser.get("/portal/sign-in").text)
        credentials = {"username": username, "password": self.seeded.passwords[username]}
        assert browser.post("/portal/sign-in", data={"csrf_token": csrf, **credentials}).status_code == 303
        return browser

    def entry(self, index: int) -> tuple[dict[str, object], dict[str, object]]:
        with Ledger.open(self.gateway.database_url, create=False) as ledger:
            return json.loads(ledger.entry(index)), dict(ledger.payload(index) or {})


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("rights")
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp / "data", upstream.url)
        gateway = start_serve(tmp, tmp / "data", upstreams, CONSENTRY_RETENTION_INTERVAL_SECONDS="1")
        try:
            yield World(gateway, seeded)
        finally:
            _stop(gateway)


def test_an_objection_to_a_legitimate_interest_stops_the_next_read(world: World) -> None:
    released = world.read(ANNA, "dealer", "repair_prediction")
    assert released.status_code == 200 and "vehicle" in released.json()["data"], released.text

    with closing(world.portal("anna.schmidt")) as browser:
        page = browser.get("/portal/consents").text
        assert 'id="objection-repair_prediction"' in page and "legitimate interest" in page
        objected = browser.post(
            "/portal/consents/objection", data={"csrf_token": _csrf(page), "purpose": "repair_prediction", "on": "1"}
        )
        assert objected.status_code == 303 and "done=objection" in objected.headers["location"]
        # a purpose that rests on consent cannot be objected to: it is withdrawn instead
        refused = browser.post(
            "/portal/consents/objection", data={"csrf_token": _csrf(page), "purpose": "marketing", "on": "1"}
        )
        assert "error=invalid-consent" in refused.headers["location"]
        assert "You objected to this use" in browser.get("/portal/consents").text

    refused_read = world.read(ANNA, "dealer", "repair_prediction")
    problem = assert_problem(refused_read, 403, "access-refused")
    assert "objection" in problem["withheld"]["vehicle.vin"]  # type: ignore[index]
    with closing(world.gateway.customer_session("anna.schmidt", world.seeded.passwords["anna.schmidt"])) as anna:
        standing = anna.get("/v1/me/objections").json()["objections"]
        objection = next(o["objection"] for o in standing if o["purpose"] == "repair_prediction")
        envelope, payload = world.entry(objection["ledger_index"])
        assert envelope["type"] == "objection.given" and payload["purposes"] == ["repair_prediction"]
        lifted = anna.put("/v1/me/objections/repair_prediction", json={"on": False})
        assert lifted.status_code == 200, lifted.text
    assert world.read(ANNA, "dealer", "repair_prediction").status_code == 200


def test_a_restriction_stops_contract_uses_and_leaves_consented_ones(world: World) -> None:
    assert world.read(ANNA, "dealer", "service_delivery").status_code == 200
    with closing(world.portal("anna.schmidt")) as browser:
        page = browser.get("/portal/consents").text
        restricted = browser.post("/portal/consents/restriction", data={"csrf_token": _csrf(page), "on": "1"})
        assert restricted.status_code == 303 and "done=restriction" in restricted.headers["location"]
        assert "You restricted the processing of your data" in browser.get("/portal/consents").text
    problem = assert_problem(world.read(ANNA, "dealer", "service_delivery"), 403, "access-refused")
    assert "processing_restricted" in problem["withheld"]["vehicle.vin"]  # type: ignore[index]
    # her consent to marketing still holds: Art. 18(2) lets restricted data be used with consent
    marketing = world.read(ANNA, "marketing", "marketing")
    assert marketing.status_code == 200 and marketing.json()["data"]["name"] == "Anna Schmidt"
    with closing(world.gateway.customer_session("anna.schmidt", world.seeded.passwords["anna.schmidt"])) as anna:
        assert anna.put("/v1/me/restriction", json={"on": False}).json()["restriction"] is None
    assert world.read(ANNA, "dealer", "service_delivery").status_code == 200


def test_a_consent_until_a_chosen_date_ends_with_that_day(world: World) -> None:
    last_day = (datetime.now(UTC) + timedelta(days=1)).date()
    with closing(world.portal("li.wei")) as browser:
        query = {"recipient": "acme-finance", "purpose": "financial_product_recommendation", "category": "vehicle.vin"}
        confirm = browser.get("/portal/consents/confirm", params=query)
        assert confirm.status_code == 200 and 'name="valid_until"' in confirm.text
        version = re.search(r'name="notice_version" value="([^"]+)"', confirm.text)
        digest = re.search(r'name="notice_sha256" value="([^"]+)"', confirm.text)
        assert version is not None and digest is not None
        form = {
            "csrf_token": _csrf(confirm.text),
            "confirmation": "1",
            **query,
            "notice_version": version.group(1),
            "notice_sha256": digest.group(1),
            "valid_until": last_day.isoformat(),
        }
        given = browser.post("/portal/consents/grant", data=form)
        assert given.status_code == 303 and "done=given" in given.headers["location"], given.headers
        past = browser.post("/portal/consents/grant", data=dict(form, valid_until="2020-01-01"))
        assert "error=invalid-consent" in past.headers["location"]
    with closing(world.gateway.customer_session("li.wei", world.seeded.passwords["li.wei"])) as li:
        records = li.get("/v1/me/consents").json()["records"]
        timed = [r for r in records if r["purposes"] == ["financial_product_recommendation"]]
        assert [r["valid_until"] for r in timed] == [f"{last_day + timedelta(days=1)}T00:00:00Z"]
    read = world.read(LI_WEI, "finance", "financial_product_recommendation")
    assert read.status_code == 200 and read.json()["data"]["vehicle"]["vin"] == "LSVAU2180N2183294"


def test_a_time_limited_consent_lapses_on_its_own_with_a_ledger_entry(world: World) -> None:
    with closing(world.gateway.customer_session("li.wei", world.seeded.passwords["li.wei"])) as li:
        catalog = li.get("/v1/me/catalog").json()
        grant = {
            "purposes": ["financial_product_recommendation"],
            "categories": ["contact.phone"],
            "recipients": ["org:acme-finance"],
            "notice": {"version": catalog["agreement"]["version"], "sha256": catalog["agreement"]["sha256"]},
            "valid_until": (datetime.now(UTC) + timedelta(seconds=3)).isoformat(),
        }
        given = li.post("/v1/me/consents", json=grant)
        assert given.status_code == 201, given.text
        record_id = given.json()["record"]["record_id"]
        deadline = time.monotonic() + 90  # the retention run is every second; the machine may be slow
        lapsed: list[dict[str, object]] = []
        while not lapsed and time.monotonic() < deadline:
            history = li.get("/v1/me/consents/history").json()
            lapsed = [e for e in history if e["record_id"] == record_id and e["status"] == "expired"]
            if not lapsed:
                time.sleep(0.5)
        assert lapsed, "the consent never lapsed"
        assert lapsed[0]["actor"] == "system:retention"
        envelope, _ = world.entry(int(str(lapsed[0]["ledger_index"])))
        assert envelope["type"] == "consent.expired"
    read = world.read(LI_WEI, "finance", "financial_product_recommendation")
    assert read.status_code == 200, read.text
    assert "phone" not in read.json()["data"]
    assert read.json()["withheld"]["contact.phone"][-1] == "consent_expired"
