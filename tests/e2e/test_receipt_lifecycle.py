"""Issue 5 "Done when": grant → receipt → withdraw → verify-says-revoked, end to end over HTTP.

The customer binds a wallet DID, grants consent through the customer API, and hands the receipt to anyone:
the public VC API verifies it against the published did:web and status list. After the withdrawal, the
same public check names the rule `status-revoked`, and no VC 1.1 copy is issued for the revoked receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

import httpx

from tests.e2e.conftest import Actors, Gateway
from tests.e2e.credential_helpers import Wallet
from tests.e2e.test_credentials_api import assert_problem, assert_unverified


def _grant_body(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
    return {"notice": {"version": agreement["version"], "sha256": agreement["sha256"]}, "lang": "en", **fields}


def _public_verify(actors: Actors, credential: dict[str, Any]) -> httpx.Response:
    with actors.gateway.client() as anyone:
        return anyone.post("/credentials/verify", json={"verifiableCredential": credential})


def test_grant_receipt_withdraw_then_the_public_verifier_says_revoked(actors: Actors) -> None:
    wallet = Wallet.generate()
    actors.gateway.enrol("lifecycle.chen")
    with closing(actors.gateway.customer_session("lifecycle.chen")) as http:
        issued = http.post("/v1/me/did/challenge").json()
        bound = http.put(
            "/v1/me/did", json={"presentation": wallet.login_presentation(issued["challenge"], issued["domain"])}
        )
        assert bound.status_code == 200, bound.text

        granted = http.post(
            "/v1/me/consents", json=_grant_body(http, purposes=["repair_prediction"], categories=["vehicle"])
        )
        assert granted.status_code == 201, granted.text
        receipt = http.get(f"/v1/me/receipts/{granted.json()['receipt_id']}").json()
        assert receipt["credentialSubject"]["id"] == wallet.did

        valid = _public_verify(actors, receipt)
        assert valid.status_code == 200, valid.text
        assert "status-revocation" in valid.json()["checks"]
        copy = http.post("/v1/me/receipts/vc11", json={"verifiableCredential": receipt, "format": "jwt"})
        assert copy.status_code == 200, copy.text

        withdrawn = http.post(f"/v1/me/consents/{granted.json()['record']['record_id']}/withdraw")
        assert withdrawn.status_code == 200, withdrawn.text

        body = assert_unverified(_public_verify(actors, receipt), "status-revoked")
        assert "issuer-key" in body["checks"] and "validity-period" in body["checks"]
        refused = http.post("/v1/me/receipts/vc11", json={"verifiableCredential": receipt, "format": "jwt"})
        assert_problem(refused, 422, "credentials/status-revoked")
        listed = httpx.get(receipt["credentialStatus"]["statusListCredential"], timeout=30)
        assert _public_verify(actors, listed.json()).status_code == 200


def test_receipts_signed_as_the_did_key_verify_publicly_and_are_revoked_on_withdrawal(
    start_gateway: Callable[..., Gateway],
) -> None:
    """`CONSENTRY_RECEIPT_ISSUER=did:key`: a verifier that resolves only did:key can check a customer's receipt; the
    did:key is the one the gateway's did:web document lists as an alternative, with status lists of its own."""
    gateway = start_gateway(receipt_issuer="did:key")
    gateway.enrol("lifecycle.key")
    with closing(gateway.client()) as anyone:
        also_known_as = anyone.get("/.well-known/did.json").json()["alsoKnownAs"]
    with closing(gateway.customer_session("lifecycle.key")) as http:
        granted = http.post(
            "/v1/me/consents", json=_grant_body(http, purposes=["repair_prediction"], categories=["vehicle"])
        )
        assert granted.status_code == 201, granted.text
        receipt = http.get(f"/v1/me/receipts/{granted.json()['receipt_id']}").json()
        assert receipt["issuer"].startswith("did:key:") and receipt["issuer"] in also_known_as
        assert receipt["proof"]["verificationMethod"].startswith(receipt["issuer"] + "#")
        assert "/did-key/" in receipt["credentialStatus"]["statusListCredential"]
        with closing(gateway.client()) as anyone:
            verified = anyone.post("/credentials/verify", json={"verifiableCredential": receipt})
            assert verified.status_code == 200 and verified.json()["verified"] is True, verified.text
            withdrawn = http.post(f"/v1/me/consents/{granted.json()['record']['record_id']}/withdraw")
            assert withdrawn.status_code == 200, withdrawn.text
            assert_unverified(
                anyone.post("/credentials/verify", json={"verifiableCredential": receipt}), "status-revoked"
            )
