"""Withdrawing one cell withdraws exactly that cell (issue 14, point 4), on the real demo over HTTP.

Anna consented to the R&D partner's joint research on her vehicle data and driving behaviour (the seed's record,
and one she gives again through the API so it has a receipt). Withdrawing "Driving behaviour" on her consents page
ends exactly that category for that purpose and recipient: fault codes and mileage stay given and released, every
record that covered driving is split in the ledger (withdrawn; the rest continues as a new record), the receipt of
the withdrawn consent is revoked and the rest has a new, valid receipt without driving. Row actions still work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from gateway.demo.stack import DemoStack
from policies import DEFAULT_TAXONOMY, load_taxonomy
from tests.e2e.conftest import _free_port
from tests.e2e.portal_forms import CellForms

ANNA = "cust-1002"
RND = "stuttgart-rnd"
DRIVING = f"{RND}|behavior.driving|joint_rnd"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoStack]:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port()) as stack:
        yield stack


def _rnd_reads_anna(stack: DemoStack) -> dict[str, object]:
    assert stack.world is not None
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        token = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("rnd", stack.world.client_secrets["rnd"])
        ).json()["access_token"]
        response = http.get(
            f"/v1/proxy/vehicle-cloud/customers/{ANNA}",
            headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "joint_rnd"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _states(anna: httpx.Client) -> dict[str, str]:
    return {
        f"{c['recipient']}|{c['category']}|{c['purpose']}": c["state"]
        for c in anna.get("/v1/me/consents").json()["cells"]
    }


def test_withdrawing_driving_behaviour_leaves_fault_codes_given(demo: DemoStack) -> None:
    assert demo.world is not None
    with httpx.Client(base_url=demo.url, timeout=60) as anna:
        signed_in = anna.post(
            "/v1/session", json={"username": "anna.schmidt", "password": demo.world.passwords["anna.schmidt"]}
        )
        assert signed_in.status_code == 200
        agreement = anna.get("/v1/me/catalog").json()["agreement"]
        given = anna.post(
            "/v1/me/consents",
            json={
                "purposes": ["joint_rnd"],
                "categories": ["vehicle", "behavior.driving"],
                "recipients": [f"org:{RND}"],
                "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
            },
        )
        assert given.status_code == 201, given.text
        first_receipt = given.json()["receipt_id"]
        before = _states(anna)
        assert before[DRIVING] == "given" and before[f"{RND}|vehicle.fault_codes|joint_rnd"] == "given"

        page = anna.get("/portal/consents")
        forms = CellForms("/consents/withdraw")
        forms.feed(page.text)
        withdrawn = anna.post(
            "/portal/consents/withdraw",
            content=urlencode(forms.forms[DRIVING]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert withdrawn.status_code == 303 and "done=withdrawn" in withdrawn.headers["location"], withdrawn.text

        after = _states(anna)
        assert after[DRIVING] == "withdrawn"
        assert {k: v for k, v in after.items() if k != DRIVING} == {k: v for k, v in before.items() if k != DRIVING}

        receipts = {r["receipt_id"]: r for r in anna.get("/v1/me/receipts").json()}
        assert receipts[first_receipt]["status"] == "revoked"
        newer = [r for r in receipts.values() if r["receipt_id"] != first_receipt]
        taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
        driving_iri = taxonomy.categories["behavior.driving"].dpv or "urn:consentry:category:behavior.driving"
        # the seed's record and the one given above both covered driving: both are split, each rest has a receipt
        assert [r["status"] for r in newer] == ["valid", "valid"]
        assert all(driving_iri not in r["categories"] and r["categories"] for r in newer)

        history = anna.get("/v1/me/consents/history").json()
        ended = {e["record_id"] for e in history if e["status"] == "withdrawn"}
        assert receipts[first_receipt]["record_id"] in ended and len(ended) == 2
        for rest in newer:
            events = [e for e in history if e["record_id"] == rest["record_id"]]
            assert [e["status"] for e in events] == ["given"] and events[0]["ledger_index"] is not None
            assert "behavior.driving" not in events[0]["categories"]

    read = _rnd_reads_anna(demo)
    assert "fault_codes" in read["data"]["vehicle"]  # type: ignore[index]
    assert "driving" not in read["data"]  # type: ignore[operator]
    assert read["withheld"]["behavior.driving"] == ["consent_withdrawn"]  # type: ignore[index]


def test_the_api_withdraws_exactly_a_cell_too(demo: DemoStack) -> None:
    """`POST /v1/me/consents/withdraw-cells`: the same split for API clients; a cell nothing covers is a 409."""
    assert demo.world is not None
    with httpx.Client(base_url=demo.url, timeout=60) as anna:
        anna.post("/v1/session", json={"username": "anna.schmidt", "password": demo.world.passwords["anna.schmidt"]})
        cell = {"category": "vehicle.mileage", "purpose": "joint_rnd", "recipient": RND}
        answer = anna.post("/v1/me/consents/withdraw-cells", json={"cells": [cell]})
        assert answer.status_code == 200, answer.text
        [split] = answer.json()["withdrawals"]
        assert split["withdrawn"]["record"]["status"] == "withdrawn"
        assert split["remainder"]["record"]["status"] == "given"
        states = _states(anna)
        assert states[f"{RND}|vehicle.mileage|joint_rnd"] == "withdrawn"
        assert states[f"{RND}|vehicle.fault_codes|joint_rnd"] == states[DRIVING] == "given"
        again = anna.post("/v1/me/consents/withdraw-cells", json={"cells": [cell]})
        assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
        unknown = anna.post("/v1/me/consents/withdraw-cells", json={"cells": [dict(cell, category="nope")]})
        assert unknown.status_code == 422 and unknown.headers["content-type"].startswith("application/problem+json")
