"""Consent means what the customer saw (issue 14, point 1), on the real demo over HTTP.

Anna consented to the R&D partner's joint research on her vehicle data when the agreement listed fault codes and
mileage but not the VIN. A `policy apply` that lets the partner have the VIN must not release Anna's VIN: it is
withheld with `consent_scope_changed`, her portal shows it "awaiting your decision" with the agreement's diff,
and only once she accepts is it released. A narrowing applies at once. Both changes are ledger entries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import yaml

from gateway.demo.stack import DemoStack
from ledger.b64 import b64decode
from policies import DEFAULT_MATRIX
from tests.e2e.conftest import _free_port
from tests.e2e.portal_forms import CellForms

CONSENTRY = str(Path(sys.executable).with_name("consentry"))
ANNA = "cust-1002"
VIN_RULE = {"id": "rnd-vin", "effect": "allow", "role": "rnd", "category": "vehicle.vin", "purpose": "joint_rnd"}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoStack]:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port()) as stack:
        yield stack


def _apply(stack: DemoStack, tmp_path: Path, *, add: list[dict[str, object]], drop: set[str]) -> dict[str, object]:
    """`consentry policy apply` of the demo matrix with rules added and dropped, as an administrator would."""
    document = yaml.safe_load(DEFAULT_MATRIX.read_text())
    document["rules"] = [r for r in document["rules"] if r["id"] not in drop] + add
    path = tmp_path / f"matrix-{len(add)}-{len(drop)}.yaml"
    path.write_text(yaml.safe_dump(document))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    environment["CONSENTRY_DATA_DIR"] = str(stack.data_dir)
    done = subprocess.run(
        [CONSENTRY, "policy", "apply", str(path), "--actor", "admin:dpo", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def _token(http: httpx.Client, stack: DemoStack, client_id: str) -> str:
    assert stack.world is not None
    answer = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, stack.world.client_secrets[client_id]),
    )
    return str(answer.json()["access_token"])


def _entry_type(stack: DemoStack, index: int) -> str:
    """The type of a ledger entry, as the auditor sees it."""
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        page = http.get(
            "/v1/ledger/entries",
            params={"start": index, "end": index + 1},
            headers={"Authorization": f"Bearer {_token(http, stack, 'auditor')}"},
        )
    assert page.status_code == 200, page.text
    return str(json.loads(b64decode(page.json()["entries"][0]["data"]))["type"])


def _read_anna(stack: DemoStack) -> dict[str, object]:
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        token = _token(http, stack, "rnd")
        response = http.get(
            f"/v1/proxy/vehicle-cloud/customers/{ANNA}",
            headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "joint_rnd"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_widening_waits_for_annas_decision_and_a_narrowing_applies_at_once(demo: DemoStack, tmp_path: Path) -> None:
    assert demo.world is not None
    before = _read_anna(demo)
    assert "vin" not in before["data"]["vehicle"]  # type: ignore[operator]
    assert "fault_codes" in before["data"]["vehicle"]  # type: ignore[operator]

    widened = _apply(demo, tmp_path, add=[VIN_RULE], drop=set())
    assert _entry_type(demo, widened["ledger_index"]) == "policy.change"  # type: ignore[arg-type]
    assert ["rnd", "standard", "vehicle.vin", "joint_rnd", "release"] in widened["consents"]["widened"]  # type: ignore[index]

    after = _read_anna(demo)
    assert "vin" not in after["data"]["vehicle"]  # type: ignore[index]
    assert after["withheld"]["vehicle.vin"] == ["consent_scope_changed"]  # type: ignore[index]
    assert after["data"]["vehicle"]["fault_codes"] == before["data"]["vehicle"]["fault_codes"]  # type: ignore[index]

    with httpx.Client(base_url=demo.url, timeout=60) as anna:
        anna.cookies.set("consentry_lang", "en")
        signed_in = anna.post(
            "/v1/session", json={"username": "anna.schmidt", "password": demo.world.passwords["anna.schmidt"]}
        )
        assert signed_in.status_code == 200
        state = anna.get("/v1/me/consents").json()
        vin = next(
            c
            for c in state["cells"]
            if (c["recipient"], c["category"], c["purpose"]) == ("stuttgart-rnd", "vehicle.vin", "joint_rnd")
        )
        assert vin["state"] == "awaiting_decision"
        page = anna.get("/portal/consents")
        assert page.status_code == 200
        assert 'data-cell="stuttgart-rnd|vehicle.vin|joint_rnd" data-state="awaiting_decision"' in page.text
        awaiting = page.text.split('id="awaiting"', 1)[1].split("</section>", 1)[0]
        assert 'data-awaiting="stuttgart-rnd|vehicle.vin|joint_rnd"' in awaiting
        assert re.search(r"^\+ .*Data: Vehicle identification number", awaiting, re.M), awaiting  # the diff adds it
        forms = CellForms("/consents/grant")
        forms.feed(page.text)
        accepted = anna.post(
            "/portal/consents/grant",
            content=urlencode(forms.forms["stuttgart-rnd|vehicle.vin|joint_rnd"]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert accepted.status_code == 303 and "done=given" in accepted.headers["location"], accepted.text

    released = _read_anna(demo)
    assert released["data"]["vehicle"]["vin"]  # type: ignore[index]
    assert "vehicle.vin" not in released["withheld"]  # type: ignore[operator]

    narrowed = _apply(demo, tmp_path, add=[VIN_RULE], drop={"rnd-mileage"})
    assert ["rnd", "standard", "vehicle.mileage", "joint_rnd", "release"] in narrowed["consents"]["narrowed"]  # type: ignore[index]
    assert not narrowed["consents"]["widened"]  # type: ignore[index]
    assert _entry_type(demo, narrowed["ledger_index"]) == "policy.change"  # type: ignore[arg-type]
    now = _read_anna(demo)
    assert "mileage_km" not in now["data"]["vehicle"]  # type: ignore[index]
    assert now["withheld"]["vehicle.mileage"][0] in ("no_matching_rule", "matrix_deny")  # type: ignore[index]
    assert now["data"]["vehicle"]["vin"]  # type: ignore[index]
