"""CCPA/CPRA and Global Privacy Control over real HTTP (issue 14, point 3).

A seeded demo gateway in front of the vehicle cloud. Emily Carter (cust-1005) lives in California (`US-CA`, an
ISO 3166-2 subdivision): marketing rests on notice there, so the marketing partner reads her contact details
until a request of hers carries `Sec-GPC: 1`; that request is recorded as an opt-out of sale/share in the ledger
and the partner's very next read is refused. The portal offers "Do Not Sell or Share My Personal Information" and
"Limit the Use of My Sensitive Personal Information", each obeyed by the next proxied read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.demo import VehicleCloudProcess
from gateway.demo.seed import DemoWorld
from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token
from tests.e2e.test_proxy import assert_problem, start_serve

EMILY = "/v1/proxy/vehicle-cloud/customers/cust-1005"
GPC = {"Sec-GPC": "1"}


@dataclass
class World:
    gateway: Gateway
    seeded: DemoWorld

    def session(self, username: str = "emily.carter") -> httpx.Client:
        return self.gateway.customer_session(username, self.seeded.passwords[username])

    def read(self, client_id: str, purpose: str) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {token(self.gateway.base_url, self.seeded, client_id)}",
            "Consentry-Purpose": purpose,
        }
        return httpx.get(self.gateway.base_url + EMILY, headers=headers, timeout=30)

    def ledger(self) -> Ledger:
        return Ledger.open(self.gateway.database_url, create=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("ccpa")
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp / "data", upstream.url)
        gateway = start_serve(tmp, tmp / "data", upstreams)
        try:
            yield World(gateway, seeded)
        finally:
            _stop(gateway)


def portal(world: World, username: str = "emily.carter", **headers: str) -> httpx.Client:
    browser = world.gateway.client(headers=headers)
    form = browser.get("/portal/sign-in")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    credentials = {"username": username, "password": world.seeded.passwords[username]}
    assert browser.post("/portal/sign-in", data={"csrf_token": csrf.group(1), **credentials}).status_code == 303
    return browser


def test_a_subdivision_is_enrolled_and_a_bare_country_is_refused_with_a_reason(world: World) -> None:
    world.gateway.register("admin", ["admin"], ["admin"])
    admin = {"Authorization": f"Bearer {world.gateway.token('admin')}"}
    with world.gateway.client(headers=admin) as http:
        body = {"username": "sam.ca", "password": "correct horse battery", "jurisdiction": "US-CA"}
        enrolled = http.post("/v1/admin/customers", json=body)
        assert enrolled.status_code == 201 and enrolled.json()["jurisdiction"] == "US-CA", enrolled.text
        refused = http.post("/v1/admin/customers", json=dict(body, username="sam.us", jurisdiction="US"))
        problem = assert_problem(refused, 422, "validation")
        assert "US-CA" in str(problem["detail"])
        bad_type = http.post("/v1/admin/customers", json=dict(body, username="sam.kid", customer_type="toddler"))
        assert_problem(bad_type, 422, "validation")
    with closing(world.gateway.customer_session("sam.ca", "correct horse battery")) as sam:
        assert sam.get("/v1/me/consents").status_code == 200 and sam.get("/portal/consents").status_code == 200
    env = {**os.environ, "CONSENTRY_DATA_DIR": str(world.gateway.data_dir), "CONSENTRY_NEW_CUSTOMER_PASSWORD": "x" * 20}
    env.pop("CONSENTRY_DATABASE_URL", None)
    cli = [CONSENTRY, "customer", "add", "--username", "cli.us", "--jurisdiction"]
    refused_cli = subprocess.run([*cli, "US"], env=env, capture_output=True, text=True, timeout=120)
    assert refused_cli.returncode != 0 and "US-CA" in refused_cli.stderr + refused_cli.stdout
    added = subprocess.run([*cli, "US-CA"], env=env, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr


def test_a_gpc_request_stops_the_marketing_partners_next_read(world: World) -> None:
    before = world.read("marketing", "marketing")
    assert before.status_code == 200, before.text
    assert before.json()["data"]["phone"] == "+1 415 555 0105"

    with closing(world.session()) as emily:
        assert emily.get("/v1/me/privacy-choices").json()["do_not_sell_or_share"] is None
        with world.ledger() as ledger:
            size = ledger.size()
        answered = emily.get("/v1/me/consents", headers=GPC)
        assert answered.status_code == 200
        marketing = [c for c in answered.json()["cells"] if c["purpose"] == "marketing"]
        assert marketing and {c["state"] for c in marketing} == {"opted_out"}
        choice = emily.get("/v1/me/privacy-choices").json()["do_not_sell_or_share"]
        assert choice["method"] == "gpc"
        with world.ledger() as ledger:
            envelope = json.loads(ledger.entry(choice["ledger_index"]))
            payload = ledger.payload(choice["ledger_index"]) or {}
            assert envelope["type"] == "opt_out.given" and payload["method"] == "gpc"
            assert "marketing" in payload["purposes"]
            grown = ledger.size()
        assert grown == size + 1
        # the signal is honoured once: repeating it records nothing more
        assert emily.get("/v1/me/catalog", headers=GPC).status_code == 200
        with world.ledger() as ledger:
            assert ledger.size() == grown

    after = world.read("marketing", "marketing")
    problem = assert_problem(after, 403, "access-refused")
    assert "opt_out_of_sale" in problem["withheld"]["contact.phone"]  # type: ignore[index]


def test_the_portal_offers_both_choices_and_the_proxy_obeys_each(world: World) -> None:
    with closing(world.session()) as emily:
        emily.put("/v1/me/privacy-choices", json={"do_not_sell_or_share": False})
    assert world.read("marketing", "marketing").status_code == 200

    with closing(portal(world)) as browser:
        page = browser.get("/portal/consents").text
        assert "Do Not Sell or Share My Personal Information" in page
        assert "Limit the Use of My Sensitive Personal Information" in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        opted = browser.post(
            "/portal/consents/privacy-choices", data={"csrf_token": csrf.group(1), "choice": "do_not_sell", "on": "1"}
        )
        assert opted.status_code == 303 and "done=choices" in opted.headers["location"]
        assert "You opted out of the sale and sharing" in browser.get("/portal/consents").text
    assert_problem(world.read("marketing", "marketing"), 403, "access-refused")

    # R&D with Emily's consent reads the precise location track until she limits sensitive data
    with closing(world.session()) as emily:
        catalog = emily.get("/v1/me/catalog").json()
        grant = {
            "purposes": ["joint_rnd"],
            "categories": ["vehicle.mileage", "location.precise"],
            "recipients": ["org:stuttgart-rnd"],
            "notice": {"version": catalog["agreement"]["version"], "sha256": catalog["agreement"]["sha256"]},
            "separate": ["location.precise"],
        }
        assert emily.post("/v1/me/consents", json=grant).status_code == 201
    released = world.read("rnd", "joint_rnd")
    assert released.status_code == 200, released.text
    assert "lat" in released.json()["data"]["location"]

    with closing(portal(world)) as browser:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/portal/consents").text)
        assert csrf is not None
        limited = browser.post(
            "/portal/consents/privacy-choices",
            data={"csrf_token": csrf.group(1), "choice": "limit_sensitive", "on": "1"},
        )
        assert limited.status_code == 303
    after = world.read("rnd", "joint_rnd")
    assert after.status_code == 200, after.text
    assert after.json()["data"]["vehicle"]["mileage_km"] == 21480
    assert "location" not in after.json()["data"]
    assert after.json()["withheld"]["location.precise"] == ["sensitive_use_limited"]


def test_a_gpc_signal_from_the_portal_is_recorded_and_shown(world: World) -> None:
    with closing(world.session()) as emily:
        emily.put("/v1/me/privacy-choices", json={"do_not_sell_or_share": False})
    assert world.read("marketing", "marketing").status_code == 200
    with closing(portal(world, **GPC)) as browser:
        page = browser.get("/portal/consents").text
        assert "Global Privacy Control" in page and 'data-state="opted_out"' in page
    assert_problem(world.read("marketing", "marketing"), 403, "access-refused")
    # a customer whose law gives no opt-out is not changed by the signal
    with closing(world.session("li.wei")) as li:
        assert li.get("/v1/me/consents", headers=GPC).status_code == 200
        assert li.get("/v1/me/privacy-choices").json() == {
            "applies": False,
            "do_not_sell_or_share": None,
            "limit_sensitive": None,
        }
