"""The portal's proof view: a customer sees ledger entries about them (and only those) with an inclusion
proof that verifies offline with the pure ledger verifiers."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.runtime import Runtime
from ledger import Event, leaf_hash, verify_checkpoint, verify_inclusion

PASSWORD = "correct horse battery staple"


@pytest.fixture
def portal(runtime: Runtime) -> Iterator[tuple[TestClient, Runtime]]:
    with TestClient(create_app(runtime.settings, runtime=runtime), base_url="http://127.0.0.1:8000") as client:
        yield client, runtime


def _sign_in(client: TestClient, username: str) -> None:
    page = client.get("/portal/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = client.post(
        "/portal/sign-in",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_a_customer_sees_their_own_entry_with_a_proof_that_verifies_offline(
    portal: tuple[TestClient, Runtime],
) -> None:
    client, runtime = portal
    mine = runtime.customers.create(username="li.wei", password=PASSWORD, display_name="Li Wei", jurisdiction="CN")
    other = runtime.customers.create(username="wang.fang", password=PASSWORD, display_name="W F", jurisdiction="CN")
    own_index = runtime.ledger.append(
        Event("access", "client:crm", runtime.subject_pseudonym(mine.customer_id), {"purpose": "marketing"})
    )
    other_index = runtime.ledger.append(
        Event("access", "client:crm", runtime.subject_pseudonym(other.customer_id), {"purpose": "marketing"})
    )
    _sign_in(client, "li.wei")

    page = client.get(f"/portal/ledger/{own_index}")
    assert page.status_code == 200
    assert "Verified: the entry is included in the signed log" in page.text

    download = client.get(f"/portal/ledger/{own_index}/proof.json")
    assert download.headers["content-disposition"].startswith("attachment")
    proof = download.json()
    checkpoint = verify_checkpoint(proof["checkpoint"], proof["verifier_keys"], proof["origin"])
    leaf = base64.b64decode(proof["leaf_hash"])
    assert leaf == leaf_hash(runtime.ledger.entry(own_index))
    verify_inclusion(
        leaf, proof["leaf_index"], checkpoint.size, [base64.b64decode(n) for n in proof["audit_path"]], checkpoint.root
    )

    # Another customer's entry, and an index past the end, read as "not found" alike.
    for index in (other_index, 10_000):
        assert client.get(f"/portal/ledger/{index}").status_code == 404
        assert client.get(f"/portal/ledger/{index}/proof.json").status_code == 404


def test_the_proof_view_needs_a_signed_in_customer(portal: tuple[TestClient, Runtime]) -> None:
    client, _ = portal
    answer = client.get("/portal/ledger/0", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/sign-in?next=/portal/ledger/0"
