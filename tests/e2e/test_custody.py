"""Taking custody of a custodial DID over real HTTP (issue 4: "each customer has a DID (did:key) created at
enrolment"; `POST /v1/me/did/custody`, `GET /v1/me/did`).

The customer receives the private key once, as a JWK; the gateway deletes its copy in the same transaction as
the ledger entry recording the release. The key proves control of the DID the customer's receipts name: it
signs, and it signs in as a wallet.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials import did_key_verification_method, key_pair_from_private, public_jwk, public_key_from_multibase
from gateway.runtime import key_store
from gateway.settings import Settings
from ledger import pseudonym
from ledger.store import Ledger
from tests.e2e.conftest import CUSTOMER_PASSWORD, Actors
from tests.e2e.credential_helpers import Wallet
from tests.e2e.test_credentials_api import assert_problem
from tests.e2e.test_customer_consents import grant_body


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextmanager
def enrolled(actors: Actors, name: str, **fields: Any) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """A customer enrolled by the administrator (`POST /v1/admin/customers`), signed in."""
    username = f"{name}.{uuid.uuid4().hex[:8]}"
    with actors.gateway.client() as admin:
        created = admin.post(
            "/v1/admin/customers",
            json={"username": username, "password": CUSTOMER_PASSWORD, "jurisdiction": "CN", **fields},
            headers={"Authorization": f"Bearer {actors.admin}"},
        )
    assert created.status_code == 201, created.text
    with closing(actors.gateway.customer_session(username)) as http:
        yield http, created.json()


def _receipt_subject(http: httpx.Client) -> str:
    body = grant_body(http, purposes=["repair_prediction"], categories=["vehicle"])
    granted = http.post("/v1/me/consents", json=body)
    assert granted.status_code == 201, granted.text
    credential = http.get(f"/v1/me/receipts/{granted.json()['receipt_id']}").json()
    return str(credential["credentialSubject"]["id"])


def _subject(actors: Actors, customer_id: str) -> str:
    settings = Settings(data_dir=actors.gateway.data_dir, issuer=actors.gateway.base_url)
    return pseudonym(key_store(settings).secret("pseudonym"), customer_id)


def test_enrolment_gives_a_did_key_whose_key_the_gateway_holds(actors: Actors) -> None:
    with enrolled(actors, "custody.enrol") as (http, profile):
        assert profile["did"].startswith("did:key:z6Mk")
        mine = http.get("/v1/me/did")
        assert mine.status_code == 200
        assert mine.json() == {
            "did": profile["did"],
            "gateway_holds_key": True,
            "key_released_at": None,
            "key_released_ledger_index": None,
        }


def test_taking_custody_returns_the_dids_private_key_once_and_records_it_in_the_ledger(actors: Actors) -> None:
    with enrolled(actors, "custody.take") as (http, profile):
        did = profile["did"]
        before = _receipt_subject(http)
        assert before == did

        taken = http.post("/v1/me/did/custody")
        assert taken.status_code == 200, taken.text
        assert taken.headers["cache-control"] == "no-store"
        jwk = taken.json()
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
        multibase = did.removeprefix("did:key:")
        assert jwk["kid"] == did_key_verification_method(multibase)
        key = Ed25519PrivateKey.from_private_bytes(_unb64u(jwk["d"]))
        # the public part resolves to the DID, and the private part signs for it
        assert public_jwk(public_key_from_multibase(multibase))["x"] == jwk["x"]
        public_key_from_multibase(multibase).verify(key.sign(b"mine"), b"mine")

        assert_problem(http.post("/v1/me/did/custody"), 409, "key-already-released")
        state = http.get("/v1/me/did").json()
        assert state["did"] == did and state["gateway_holds_key"] is False
        index = state["key_released_ledger_index"]
        assert isinstance(index, int) and state["key_released_at"]

        # receipts issued after custody still name the same DID
        assert _receipt_subject(http) == did

    with actors.gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"}) as auditor:
        events = auditor.get(
            "/v1/ledger/events",
            params={"subject": _subject(actors, profile["customer_id"]), "type": "customer.did.custody"},
        ).json()["events"]
    assert [(e["index"], e["actor"]) for e in events] == [(index, f"customer:{profile['customer_id']}")]
    with Ledger.open(actors.gateway.database_url, create=False) as ledger:
        payload = ledger.payload(index)
    assert payload == {"did": did, "to": "subject"}
    assert jwk["d"] not in str(payload)


def test_the_released_key_signs_in_as_a_wallet(actors: Actors) -> None:
    with enrolled(actors, "custody.wallet") as (http, profile):
        jwk = http.post("/v1/me/did/custody").json()
    pair = key_pair_from_private(Ed25519PrivateKey.from_private_bytes(_unb64u(jwk["d"])))
    wallet = Wallet(profile["did"], jwk["kid"], pair.private_key_multibase)
    with actors.gateway.client() as http:
        issued = http.post("/v1/session/did/challenge").json()
        signed_in = http.post(
            "/v1/session/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["customer"]["customer_id"] == profile["customer_id"]


def test_a_customer_releases_only_their_own_key(actors: Actors) -> None:
    with enrolled(actors, "custody.owner") as (owner, owner_profile), enrolled(actors, "custody.other") as (other, _):
        released = other.post("/v1/me/did/custody").json()
        assert not released["kid"].startswith(owner_profile["did"] + "#")
        assert owner.get("/v1/me/did").json()["gateway_holds_key"] is True
    with actors.gateway.client() as anonymous:
        assert_problem(anonymous.post("/v1/me/did/custody"), 401, "unauthorized")


def test_a_wallet_did_has_no_custodial_key(actors: Actors) -> None:
    wallet = Wallet.generate()
    with enrolled(actors, "custody.own", did=wallet.did) as (http, _):
        assert http.get("/v1/me/did").json()["gateway_holds_key"] is False
        assert_problem(http.post("/v1/me/did/custody"), 409, "no-custodial-key")


def test_binding_a_wallet_did_deletes_the_custodial_key(actors: Actors) -> None:
    wallet = Wallet.generate()
    with enrolled(actors, "custody.bind") as (http, profile):
        issued = http.post("/v1/me/did/challenge").json()
        bound = http.put(
            "/v1/me/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
        assert bound.status_code == 200, bound.text
        state = http.get("/v1/me/did").json()
        assert state["did"] == wallet.did != profile["did"]
        assert state["gateway_holds_key"] is False
        assert_problem(http.post("/v1/me/did/custody"), 409, "no-custodial-key")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_my_did_routes_need_a_session(actors: Actors, method: str) -> None:
    with actors.gateway.client() as anonymous:
        path = "/v1/me/did" if method == "GET" else "/v1/me/did/custody"
        assert anonymous.request(method, path).status_code == 401
