"""One profile read across three source systems, each its own process, through a `consentry serve` gateway.

Issue 22, "One profile read": the CRM names the customer by any source's identifier; every linked source is
read and filtered as the proxy filters; each field's source and each source's status are stated; a source that is
down yields a partial answer with nothing from it; one ledger entry records the read and the customer sees it
once in "who used my data".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.demo.partners import DEMO_LINKS
from tests.e2e.conftest import Gateway, _stop
from tests.e2e.federation_world import Sources, running_sources, seed_federation
from tests.e2e.proxy_world import token
from tests.e2e.test_proxy import start_serve

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Any, Sources]]:
    tmp = tmp_path_factory.mktemp("federation")
    with running_sources() as sources:
        seeded, upstreams = seed_federation(tmp / "data", sources.urls())
        gateway = start_serve(tmp, tmp / "data", upstreams, CONSENTRY_PROFILE_SOURCE_TIMEOUT_SECONDS="20")
        try:
            yield gateway, seeded, sources
        finally:
            _stop(gateway)


def _read(gateway: Gateway, seeded: Any, identifier: str, client: str, purpose: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token(gateway.base_url, seeded, client)}", "Consentry-Purpose": purpose}
    return httpx.get(f"{gateway.base_url}/v1/profiles/{identifier}", headers=headers, timeout=60)


def _leaves(document: Any, prefix: str = "") -> set[str]:
    if isinstance(document, dict):
        return {leaf for key, value in document.items() for leaf in _leaves(value, f"{prefix}/{key}")}
    if isinstance(document, list):
        return {leaf for i, value in enumerate(document) for leaf in _leaves(value, f"{prefix}/{i}")}
    return {prefix}


def test_one_read_releases_from_all_three_sources_with_per_field_filtering(
    federation: tuple[Gateway, Any, Sources],
) -> None:
    gateway, seeded, _ = federation
    response = _read(gateway, seeded, "ACC-880101", "marketing", "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {name: s["status"] for name, s in body["sources"].items()} == {
        "vehicle-cloud": "released",
        "billing": "released",
        "insurer": "released",
    }
    # Li Wei consented to marketing of her name, contact details and city: exactly those leave, per source.
    assert _leaves(body["profile"]["vehicle-cloud"]) == {"/name", "/phone", "/email", "/location/city"}
    assert _leaves(body["profile"]["billing"]) == {"/holder/name", "/holder/email", "/billing_city"}
    assert _leaves(body["profile"]["insurer"]) == {"/policyholder/name", "/policyholder/phone"}
    assert body["profile"]["billing"]["holder"]["name"] == "Li Wei"
    # what was withheld, and why, per source; unmapped fields are counted, never shown
    assert "behavior.consumption" in body["withheld"]["billing"]
    assert "financial" in body["withheld"]["insurer"]
    assert body["sources"]["billing"]["unmapped_withheld"] == 2  # account_number, credit_score_internal
    assert "ACC-880101" not in response.text.replace('"customer":"ACC-880101"', "")
    assert int(response.headers["Consentry-Ledger-Index"]) == body["ledger_index"]

    # the customer sees that read once, as one entry naming the sources
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        login = {"username": "li.wei", "password": seeded.passwords["li.wei"]}
        assert http.post("/v1/session", json=login).status_code == 200
        accesses = http.get("/v1/me/accesses").json()
    entries = accesses if isinstance(accesses, list) else accesses["accesses"]
    mine = [e for e in entries if e["ledger_index"] == body["ledger_index"]]
    assert len(mine) == 1 and mine[0]["type"] == "access.profile"
    assert [e["type"] for e in entries].count("access.profile") == 1
    assert set(mine[0]["released"]) == set(body["released"])


def test_any_registered_identifier_names_the_same_customer(federation: tuple[Gateway, Any, Sources]) -> None:
    gateway, seeded, _ = federation
    answers = [
        _read(gateway, seeded, identifier, "marketing", "marketing").json()
        for identifier in DEMO_LINKS["cust-1001"].values()
    ]
    assert {a["profile"]["vehicle-cloud"]["name"] for a in answers} == {"Li Wei"}
    unknown = _read(gateway, seeded, "ACC-999999", "marketing", "marketing")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert _read(gateway, seeded, "ACC-880101", "marketing", "").status_code == 400


def test_a_source_that_is_down_gives_a_partial_answer_with_nothing_from_it(
    federation: tuple[Gateway, Any, Sources],
) -> None:
    gateway, seeded, sources = federation
    sources.processes["insurer"].stop()
    response = _read(gateway, seeded, "cust-1001", "marketing", "marketing")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sources"]["insurer"]["status"] in ("failed", "timeout")
    assert body["sources"]["insurer"]["problem"]
    assert "insurer" not in body["profile"]
    assert body["sources"]["billing"]["status"] == body["sources"]["vehicle-cloud"]["status"] == "released"
    assert "+86 138 0013 8001" in response.text  # the vehicle cloud's phone still answers


def test_administrators_link_identifiers_in_the_unified_index(federation: tuple[Gateway, Any, Sources]) -> None:
    gateway, seeded, _ = federation
    gateway.register("index-admin", ["admin"], ["admin"])
    customer = seeded.customer_ids["cust-1003"]
    with gateway.client(headers={"Authorization": f"Bearer {gateway.token('index-admin')}"}) as http:
        linked = http.put(
            f"/v1/admin/customers/{customer}/identifiers/insurer", json={"identifier": "POL-CN-2026-00003"}
        )
        assert linked.status_code == 200, linked.text
        assert "identity.name" in linked.json()["categories"]
        listed = http.get(f"/v1/admin/customers/{customer}/identifiers").json()
        assert {(x["source"], x["identifier"]) for x in listed} == {
            ("vehicle-cloud", "cust-1003"),
            ("billing", "ACC-880103"),
            ("insurer", "POL-CN-2026-00003"),
        }
        taken = http.put(f"/v1/admin/customers/{customer}/identifiers/billing", json={"identifier": "ACC-880101"})
        assert taken.status_code == 409 and taken.json()["type"].endswith("/identifier-in-use")
        unknown = http.put(f"/v1/admin/customers/{customer}/identifiers/nowhere", json={"identifier": "X1"})
        assert unknown.status_code == 404
        assert http.delete(f"/v1/admin/customers/{customer}/identifiers/insurer").status_code == 204
    # sealed at rest: the identifier is nowhere in the database file
    stored = b"".join(path.read_bytes() for path in gateway.data_dir.glob("consentry.db*"))
    assert b"POL-CN-2026-00003" not in stored and b"ACC-880103" not in stored
