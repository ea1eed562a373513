"""The VC API over real HTTP (issue 5 "Endpoints in the shape of the W3C VC API").

Issue as the gateway's did:web, verify (proof, issuer key, validity, status), revoke through
/credentials/status, fetch status lists and did.json, rotate the issuer key. A refused issuance is a 4xx
problem+json whose type names the rule; a verification that ran and failed is, as the VC API has it, a 200
with `verified: false` and a `problemDetails` entry naming each failed rule — never a 401.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
import pytest

from credentials import add_proof, did_web_from_domain
from tests.e2e.conftest import Actors
from tests.e2e.credential_helpers import Wallet, unsigned_receipt

PROBLEMS = "https://consentry.dev/problems/"


def _issuer(actors: Actors) -> str:
    return did_web_from_domain(actors.gateway.base_url.removeprefix("http://"))


# Admin tokens minted here, per gateway: the session's own expires after 15 minutes, which a long run outlasts.
_ADMIN_TOKENS: dict[str, tuple[float, str]] = {}
_TOKEN_REUSE_S = 600


def _admin(actors: Actors) -> dict[str, str]:
    minted, token = _ADMIN_TOKENS.get(actors.gateway.base_url, (float("-inf"), ""))
    if time.monotonic() - minted > _TOKEN_REUSE_S:
        minted, token = time.monotonic(), actors.gateway.token("admin")
        _ADMIN_TOKENS[actors.gateway.base_url] = (minted, token)
    return {"Authorization": f"Bearer {token}"}


def issue(actors: Actors, credential: dict[str, Any], **options: str) -> httpx.Response:
    with actors.gateway.client() as http:
        return http.post(
            "/credentials/issue", json={"credential": credential, "options": options}, headers=_admin(actors)
        )


def issued(actors: Actors, subject: str | None = None, **options: str) -> dict[str, Any]:
    response = issue(actors, unsigned_receipt(_issuer(actors), subject or Wallet.generate().did), **options)
    assert response.status_code == 201, response.text
    credential: dict[str, Any] = response.json()["verifiableCredential"]
    return credential


def verify(actors: Actors, credential: dict[str, Any]) -> httpx.Response:
    with actors.gateway.client() as http:
        return http.post("/credentials/verify", json={"verifiableCredential": credential})


def assert_unverified(response: httpx.Response, rule: str) -> dict[str, Any]:
    """VC API: 200, `verified: false`, and an RFC 9457 entry for the rule among `problemDetails`."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["verified"] is False, body
    assert rule in [entry["rule"] for entry in body["problemDetails"]], body
    entry = next(entry for entry in body["problemDetails"] if entry["rule"] == rule)
    assert entry["type"] == f"{PROBLEMS}credentials/{rule}" and entry["detail"], entry
    return body


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEMS + kind, body
    return body


@pytest.mark.parametrize("cryptosuite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_issue_then_verify_runs_every_check(actors: Actors, cryptosuite: str) -> None:
    credential = issued(actors, cryptosuite=cryptosuite)
    assert credential["issuer"] == _issuer(actors)
    assert credential["proof"]["cryptosuite"] == cryptosuite
    entry = credential["credentialStatus"]
    assert entry["statusPurpose"] == "revocation"
    assert entry["statusListCredential"] == f"{actors.gateway.base_url}/v1/status-lists/1"
    response = verify(actors, credential)
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True
    assert {"data-model", "issuer-key", "validity-period", "status-revocation"} <= set(response.json()["checks"])


def test_issuance_is_a_ledger_entry(actors: Actors) -> None:
    response = issue(actors, unsigned_receipt(_issuer(actors), Wallet.generate().did))
    index = response.json()["ledger_index"]
    with actors.gateway.client() as http:
        found = http.get(
            "/v1/ledger/events",
            params={"type": "credential.issued", "after": index - 1},
            headers={"Authorization": f"Bearer {actors.auditor}"},
        )
    assert found.status_code == 200, found.text
    assert index in [event["index"] for event in found.json()["events"]], found.text


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("ledger index changed", "signature"),
        ("proof value replaced", "proof-value"),
        ("validity ends before it starts", "validity-period"),
    ],
)
def test_a_tampered_credential_is_unverified_naming_the_rule(actors: Actors, change: str, rule: str) -> None:
    credential = copy.deepcopy(issued(actors))
    if change == "ledger index changed":
        credential["credentialSubject"]["consent"]["ledgerIndex"] = 8
    elif change == "proof value replaced":
        credential["proof"]["proofValue"] = "not-multibase"
    else:
        credential["validUntil"] = "2025-01-01T00:00:00Z"
    body = assert_unverified(verify(actors, credential), rule)
    assert body["problemDetails"][0]["rule"] == rule


def test_a_credential_signed_by_a_key_the_issuer_does_not_control_is_refused(actors: Actors) -> None:
    """VC 2.0 §4.7 / issue 5: the proof key must belong to the issuer the credential names."""
    wallet = Wallet.generate()
    unsigned = unsigned_receipt(_issuer(actors), wallet.did)
    forged = add_proof(
        unsigned, private_key_multibase=wallet.private_key_multibase, verification_method=wallet.verification_method
    )
    body = assert_unverified(verify(actors, forged), "issuer-key")
    assert "proof" in body["checks"]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("issuer is someone else", "issuer"),
        ("context does not start with VC 2.0", "context"),
        ("undefined term", "type-expansion"),
        ("empty subject", "credential-subject"),
        ("status entry without a purpose", "credentialStatus-purpose"),
        ("bad validFrom", "datetime"),
    ],
)
def test_issue_refuses_a_credential_that_breaks_a_vc2_rule(actors: Actors, change: str, rule: str) -> None:
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    if change == "issuer is someone else":
        credential["issuer"] = "did:web:elsewhere.example"
    elif change == "context does not start with VC 2.0":
        credential["@context"] = list(reversed(credential["@context"]))
    elif change == "undefined term":
        credential["credentialSubject"]["favouriteColour"] = "blue"
    elif change == "empty subject":
        credential["credentialSubject"] = {}
    elif change == "status entry without a purpose":
        credential["credentialStatus"] = {"type": "BitstringStatusListEntry"}
    else:
        credential["validFrom"] = "yesterday"
    response = issue(actors, credential)
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == rule, response.text


def test_only_admins_issue_and_change_status_and_verification_is_public(actors: Actors) -> None:
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    with actors.gateway.client() as http:
        assert http.post("/credentials/issue", json={"credential": credential}).status_code == 401
        crm = {"Authorization": f"Bearer {actors.crm}"}
        assert http.post("/credentials/issue", json={"credential": credential}, headers=crm).status_code == 403
        status = {"verifiableCredential": credential, "status": "revoked"}
        assert http.post("/credentials/status", json=status, headers=crm).status_code == 403
    assert verify(actors, issued(actors)).status_code == 200


def test_verification_bodies_are_capped_and_malformed_ones_named(actors: Actors) -> None:
    credential = issued(actors)
    credential["padding"] = "x" * 70_000
    with actors.gateway.client() as http:
        too_large = http.post("/credentials/verify", json={"verifiableCredential": credential})
        not_json = http.post("/credentials/verify", content=b"{not json", headers={"Content-Type": "application/json"})
        wrong_shape = http.post("/credentials/verify", json={"credential": {}})
        not_an_object = http.post("/presentations/verify", json=[1, 2])
    assert assert_problem(too_large, 413, "body-too-large")["max_bytes"] == 65536
    assert_problem(not_json, 400, "bad-request")
    assert_problem(wrong_shape, 400, "validation")
    assert_problem(not_an_object, 400, "validation")


def test_revocation_through_the_status_endpoint_is_visible_to_every_verifier(actors: Actors) -> None:
    credential = issued(actors)
    entry = credential["credentialStatus"]
    with actors.gateway.client() as http:
        changed = http.post(
            "/credentials/status",
            json={"verifiableCredential": credential, "status": "revoked"},
            headers=_admin(actors),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["statusListIndex"] == entry["statusListIndex"]
        again = http.post(
            "/credentials/status",
            json={"verifiableCredential": credential, "status": "revoked"},
            headers=_admin(actors),
        )
        assert again.status_code == 200, again.text
        listed = http.get(entry["statusListCredential"].removeprefix(actors.gateway.base_url))
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-cache"
    assert listed.json()["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert verify(actors, listed.json()).status_code == 200
    assert_unverified(verify(actors, credential), "status-revoked")


def test_status_changes_only_for_credentials_we_signed(actors: Actors) -> None:
    wallet = Wallet.generate()
    forged = add_proof(
        unsigned_receipt(_issuer(actors), wallet.did),
        private_key_multibase=wallet.private_key_multibase,
        verification_method=wallet.verification_method,
    )
    with actors.gateway.client() as http:
        response = http.post(
            "/credentials/status", json={"verifiableCredential": forged, "status": "revoked"}, headers=_admin(actors)
        )
    assert_problem(response, 422, "credentials/issuer-key")


def test_an_unknown_status_list_is_404(actors: Actors) -> None:
    with actors.gateway.client() as http:
        assert_problem(http.get("/v1/status-lists/999"), 404, "not-found")


def test_did_document_lists_every_issuer_key_and_rotation_keeps_old_credentials_valid(actors: Actors) -> None:
    before = issued(actors)
    with actors.gateway.client() as http:
        document = http.get("/.well-known/did.json")
        assert document.headers["content-type"] == "application/did+json"
        keys_before = [m["id"] for m in document.json()["verificationMethod"]]
        assert before["proof"]["verificationMethod"] in keys_before
        rotated = http.post("/v1/admin/keys/issuer/rotate", headers=_admin(actors))
        assert rotated.status_code == 200, rotated.text
        after_document = http.get("/.well-known/did.json").json()
    assert after_document["id"] == _issuer(actors)
    assert [m["id"] for m in after_document["verificationMethod"]] == [*keys_before, rotated.json()["kid"]]
    assert after_document["authentication"] == [rotated.json()["kid"]]
    after = issued(actors)
    assert after["proof"]["verificationMethod"] == rotated.json()["kid"]
    assert verify(actors, before).status_code == 200
    assert verify(actors, after).status_code == 200
    assert "privateKeyMultibase" not in json.dumps(after_document)


def _presentation(wallet: Wallet, credential: dict[str, Any], challenge: str, domain: str) -> dict[str, Any]:
    unsigned = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": wallet.did,
        "verifiableCredential": [credential],
    }
    return add_proof(
        unsigned,
        private_key_multibase=wallet.private_key_multibase,
        verification_method=wallet.verification_method,
        proof_purpose="authentication",
        challenge=challenge,
        domain=domain,
    )


def test_a_holders_presentation_verifies_for_its_challenge_and_domain_only(actors: Actors) -> None:
    wallet = Wallet.generate()
    credential = issued(actors, subject=wallet.did)
    presentation = _presentation(wallet, credential, "nonce-123", "dealer.example")
    with actors.gateway.client() as http:
        ok = http.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": presentation,
                "options": {"challenge": "nonce-123", "domain": "dealer.example"},
            },
        )
        other_challenge = http.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": presentation,
                "options": {"challenge": "nonce-456", "domain": "dealer.example"},
            },
        )
        other_domain = http.post(
            "/presentations/verify",
            json={"verifiablePresentation": presentation, "options": {"challenge": "nonce-123"}},
        )
    assert ok.status_code == 200, ok.text
    assert ok.json()["verified"] is True
    assert "credential" in ok.json()["checks"]
    assert_unverified(other_challenge, "proof-challenge")
    assert_unverified(other_domain, "proof-domain")
