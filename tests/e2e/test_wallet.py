"""Customers and their wallets over real HTTP (issue 5 "Customers and their wallets", "Interop with didkit").

A real wallet flow: a did:key generated here signs a DID Authentication presentation over the gateway's
single-use challenge and domain; an SD-JWT VC lets the customer show a dealer the VIN without the national
id; a receipt comes back from didkit as VC 1.1 that didkit itself verifies.
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

import httpx
import pytest

from credentials import (
    did_web_from_domain,
    didkit_verify_sync,
    present_sd_jwt,
    verify_jwt_vc,
)
from tests.e2e.conftest import CUSTOMER_PASSWORD, Actors
from tests.e2e.credential_helpers import Wallet, unsigned_receipt
from tests.e2e.test_credentials_api import assert_problem

VIN = "LSVAU2180N2183294"
NATIONAL_ID = "110101199003074514"


def _domain(actors: Actors) -> str:
    return actors.gateway.base_url.removeprefix("http://")


def _admin(actors: Actors) -> dict[str, str]:
    return {"Authorization": f"Bearer {actors.admin}"}


def enrol_with_wallet(actors: Actors, username: str) -> tuple[Wallet, dict[str, Any]]:
    """The administrator enrols a customer together with the DID of the customer's own wallet."""
    wallet = Wallet.generate()
    with actors.gateway.client() as http:
        response = http.post(
            "/v1/admin/customers",
            json={"username": username, "password": CUSTOMER_PASSWORD, "jurisdiction": "CN", "did": wallet.did},
            headers=_admin(actors),
        )
    assert response.status_code == 201, response.text
    assert response.json()["did"] == wallet.did
    return wallet, response.json()


def challenge(http: httpx.Client, path: str = "/v1/session/did/challenge") -> dict[str, Any]:
    response = http.post(path)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_wallet_signs_in_and_gets_the_same_session_as_a_password(actors: Actors) -> None:
    wallet, profile = enrol_with_wallet(actors, "wallet.zhang")
    with actors.gateway.client() as http:
        issued = challenge(http)
        assert issued["domain"] == _domain(actors)
        signed_in = http.post(
            "/v1/session/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["customer"]["customer_id"] == profile["customer_id"]
        cookie = signed_in.headers["set-cookie"]
        assert "consentry_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert http.get("/v1/me").json()["did"] == wallet.did


def test_a_challenge_is_single_use(actors: Actors) -> None:
    wallet, _ = enrol_with_wallet(actors, "wallet.replay")
    with actors.gateway.client() as http:
        issued = challenge(http)
        presentation = wallet.login_presentation(issued["challenge"], issued["domain"])
        assert http.post("/v1/session/did", json={"presentation": presentation}).status_code == 200
    with actors.gateway.client() as attacker:
        replayed = attacker.post("/v1/session/did", json={"presentation": presentation})
        assert_problem(replayed, 401, "credentials/challenge")
        assert "WWW-Authenticate" in replayed.headers
        assert attacker.get("/v1/me").status_code == 401


def test_a_challenge_the_gateway_never_issued_is_refused(actors: Actors) -> None:
    wallet, _ = enrol_with_wallet(actors, "wallet.invented")
    with actors.gateway.client() as http:
        response = http.post(
            "/v1/session/did", json={"presentation": wallet.login_presentation("invented-challenge", _domain(actors))}
        )
    assert_problem(response, 401, "credentials/challenge")


def test_a_presentation_for_another_domain_is_refused_and_burns_the_challenge(actors: Actors) -> None:
    wallet, _ = enrol_with_wallet(actors, "wallet.domain")
    with actors.gateway.client() as http:
        issued = challenge(http)
        phished = wallet.login_presentation(issued["challenge"], "evil.example")
        assert_problem(http.post("/v1/session/did", json={"presentation": phished}), 401, "credentials/proof-domain")
        honest = wallet.login_presentation(issued["challenge"], issued["domain"])
        assert_problem(http.post("/v1/session/did", json={"presentation": honest}), 401, "credentials/challenge")


def test_a_presentation_signed_by_a_key_the_holder_does_not_control_is_refused(actors: Actors) -> None:
    wallet, _ = enrol_with_wallet(actors, "wallet.impostor")
    impostor = Wallet.generate()
    with actors.gateway.client() as http:
        issued = challenge(http)
        presentation = impostor.login_presentation(issued["challenge"], issued["domain"])
        presentation["holder"] = wallet.did
        response = http.post("/v1/session/did", json={"presentation": presentation})
    assert response.status_code == 401, response.text
    assert response.json()["rule"] in ("signature", "holder-key")


def test_an_unknown_did_cannot_sign_in(actors: Actors) -> None:
    stranger = Wallet.generate()
    with actors.gateway.client() as http:
        issued = challenge(http)
        response = http.post(
            "/v1/session/did", json={"presentation": stranger.login_presentation(issued["challenge"], issued["domain"])}
        )
    assert_problem(response, 401, "unknown-did")


def test_a_customer_binds_a_wallet_by_proof_and_then_signs_in_with_it(actors: Actors) -> None:
    wallet = Wallet.generate()
    with closing(actors.gateway.customer_session("wang.fang")) as http:
        login_challenge = challenge(http)
        wrong_purpose = wallet.login_presentation(login_challenge["challenge"], login_challenge["domain"])
        assert_problem(http.put("/v1/me/did", json={"presentation": wrong_purpose}), 422, "credentials/challenge")
        issued = challenge(http, "/v1/me/did/challenge")
        bound = http.put(
            "/v1/me/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
        assert bound.status_code == 200, bound.text
        assert bound.json()["did"] == wallet.did
    with actors.gateway.client() as fresh:
        issued = challenge(fresh)
        signed_in = fresh.post(
            "/v1/session/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["customer"]["customer_id"] == actors.other_customer_id


def test_a_did_belongs_to_one_customer(actors: Actors) -> None:
    wallet, _ = enrol_with_wallet(actors, "wallet.owner")
    with actors.gateway.client() as http:
        duplicate = http.post(
            "/v1/admin/customers",
            json={"username": "wallet.copycat", "password": CUSTOMER_PASSWORD, "jurisdiction": "CN", "did": wallet.did},
            headers=_admin(actors),
        )
        not_a_did = http.post(
            "/v1/admin/customers",
            json={"username": "wallet.typo", "password": CUSTOMER_PASSWORD, "jurisdiction": "CN", "did": "did:web:x"},
            headers=_admin(actors),
        )
    assert_problem(duplicate, 409, "conflict")
    assert_problem(not_a_did, 422, "validation")


def _sd_jwt_customer(actors: Actors, username: str) -> tuple[Wallet, httpx.Client]:
    wallet, profile = enrol_with_wallet(actors, username)
    with actors.gateway.client() as http:
        recorded = http.put(
            f"/v1/admin/customers/{profile['customer_id']}/attributes",
            json={"name": "Zhang San", "vin": VIN, "national_id": NATIONAL_ID},
            headers=_admin(actors),
        )
    assert recorded.status_code == 204, recorded.text
    return wallet, actors.gateway.customer_session(username)


def _verify_sd_jwt(actors: Actors, presentation: str, **binding: str) -> httpx.Response:
    with actors.gateway.client() as http:
        return http.post("/credentials/sd-jwt/verify", json={"presentation": presentation, **binding})


def test_the_customer_shows_a_dealer_the_vin_and_nothing_else(actors: Actors) -> None:
    wallet, http = _sd_jwt_customer(actors, "sdjwt.vin")
    with closing(http):
        response = http.post("/v1/me/credentials/sd-jwt")
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["disclosable"] == ["name", "national_id", "vin"]
    assert issued["key_bound"] is True
    assert NATIONAL_ID not in issued["sd_jwt"] and VIN not in issued["sd_jwt"]  # hidden behind digests
    shown = present_sd_jwt(
        issued["sd_jwt"],
        disclose=["vin"],
        holder_private_key_multibase=wallet.private_key_multibase,
        audience="https://dealer.example",
        nonce="dealer-nonce-1",
    )
    verified = _verify_sd_jwt(actors, shown, audience="https://dealer.example", nonce="dealer-nonce-1")
    assert verified.status_code == 200, verified.text
    claims = verified.json()["claims"]
    assert claims["vin"] == VIN
    assert "national_id" not in claims and "name" not in claims
    assert claims["iss"] == did_web_from_domain(_domain(actors))
    assert claims["cnf"]["jwk"]["kty"] == "OKP"


@pytest.mark.parametrize("attack", ["no key binding", "other verifier", "forged disclosure"])
def test_an_sd_jwt_presentation_that_breaks_a_rule_is_a_422(actors: Actors, attack: str) -> None:
    wallet, http = _sd_jwt_customer(actors, f"sdjwt.{attack.replace(' ', '-')}")
    with closing(http):
        sd_jwt = http.post("/v1/me/credentials/sd-jwt").json()["sd_jwt"]
    binding = {"audience": "https://dealer.example", "nonce": "n-1"}
    if attack == "no key binding":
        shown = present_sd_jwt(sd_jwt, disclose=["vin"])
    else:
        shown = present_sd_jwt(
            sd_jwt, disclose=["vin"], holder_private_key_multibase=wallet.private_key_multibase, **binding
        )
    if attack == "other verifier":
        binding["audience"] = "https://someone-else.example"
    if attack == "forged disclosure":
        issuer_jwt = shown.split("~")[0]
        shown = issuer_jwt + "~WyJzYWx0IiwidmluIiwiV1ZXWlpaMUpaM1cwMDAwMDEiXQ~" + shown.split("~")[-1]
    assert_problem(_verify_sd_jwt(actors, shown, **binding), 422, "credentials/sd-jwt")


def test_without_recorded_attributes_there_is_nothing_to_attest(actors: Actors) -> None:
    with closing(actors.gateway.customer_session("li.wei")) as http:
        assert_problem(http.post("/v1/me/credentials/sd-jwt"), 409, "no-attributes")


@pytest.mark.parametrize("proof_format", ["ldp", "jwt"])
def test_a_receipt_is_reissued_by_didkit_as_vc11_and_didkit_verifies_it(actors: Actors, proof_format: str) -> None:
    wallet, _ = enrol_with_wallet(actors, f"didkit.{proof_format}")
    issuer = did_web_from_domain(_domain(actors))
    with actors.gateway.client() as admin:
        receipt = admin.post(
            "/credentials/issue", json={"credential": unsigned_receipt(issuer, wallet.did)}, headers=_admin(actors)
        ).json()["verifiableCredential"]
    with closing(actors.gateway.customer_session(f"didkit.{proof_format}")) as http:
        response = http.post("/v1/me/receipts/vc11", json={"verifiableCredential": receipt, "format": proof_format})
    assert response.status_code == 200, response.text
    legacy = response.json()["credential"]
    if proof_format == "ldp":
        assert legacy["proof"]["type"] == "Ed25519Signature2018"
        assert legacy["credentialSubject"]["consent"]["recordId"] == receipt["credentialSubject"]["consent"]["recordId"]
    else:
        assert verify_jwt_vc(legacy)["credentialSubject"]["id"] == wallet.did
    assert didkit_verify_sync(legacy, proof_format=proof_format).verified


def test_only_the_receipts_subject_gets_a_vc11_copy(actors: Actors) -> None:
    stranger = Wallet.generate()
    issuer = did_web_from_domain(_domain(actors))
    with actors.gateway.client() as admin:
        receipt = admin.post(
            "/credentials/issue", json={"credential": unsigned_receipt(issuer, stranger.did)}, headers=_admin(actors)
        ).json()["verifiableCredential"]
    _, _ = enrol_with_wallet(actors, "didkit.other")
    with closing(actors.gateway.customer_session("didkit.other")) as http:
        response = http.post("/v1/me/receipts/vc11", json={"verifiableCredential": receipt})
    assert_problem(response, 422, "credentials/subject")
