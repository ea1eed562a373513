"""Issue 18 over real HTTP: the VC API as interoperability suites exercise it.

Each test names the rule it holds us to: W3C VC Data Model 2.0 (VCDM), VC Data Model 1.1, Data Integrity 1.0
(DI), vc-di-eddsa, Ed25519Signature2020, Bitstring Status List 1.0 (BSL) and the VC API.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import httpx
import pytest

from credentials import add_ed25519_signature_2018, add_proof
from credentials.contexts import VC_V1, VC_V2, bundled_bytes
from credentials.ed25519_signature_2020 import ED25519_2020_CONTEXT, add_ed25519_signature_2020
from credentials.multibase import b58encode
from tests.e2e.conftest import Actors
from tests.e2e.credential_helpers import Wallet, unsigned_receipt
from tests.e2e.test_credentials_api import PROBLEMS, _admin, _issuer, assert_problem, assert_unverified, issue, verify

ENTRY = "BitstringStatusListEntry"


def _issued(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    credential: dict[str, Any] = response.json()["verifiableCredential"]
    return credential


def _issue_with(actors: Actors, credential: dict[str, Any], **options: Any) -> httpx.Response:
    with actors.gateway.client() as http:
        return http.post(
            "/credentials/issue", json={"credential": credential, "options": options}, headers=_admin(actors)
        )


def _status(actors: Actors, credential_id: str, purpose: str, value: bool) -> httpx.Response:
    body = {"credentialId": credential_id, "credentialStatus": {"type": ENTRY, "statusPurpose": purpose}}
    with actors.gateway.client() as http:
        return http.post("/credentials/status", json={**body, "status": value}, headers=_admin(actors))


def _verified(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["verified"] is True and body["problemDetails"] == [], body
    return body


def _third_party(wallet: Wallet, **extra: Any) -> dict[str, Any]:
    """A credential someone else (a did:key issuer) signs: what a verifier is handed."""
    return {
        "@context": [VC_V2],
        "type": ["VerifiableCredential"],
        "issuer": wallet.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject", "name": "Li Wei"},
        **extra,
    }


def _sign(wallet: Wallet, document: dict[str, Any], **options: Any) -> dict[str, Any]:
    return add_proof(
        document,
        private_key_multibase=wallet.private_key_multibase,
        verification_method=wallet.verification_method,
        **options,
    )


# --- Point 2: caller-supplied status entries, options.credentialId, cryptosuite (VC API issue; BSL §2.1) -------


def test_caller_asks_for_revocation_and_suspension_entries_and_suspension_toggles(actors: Actors) -> None:
    """BSL §2.1 entries for two purposes; VC API UpdateCredentialStatusRequest sets and clears suspension."""
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    credential["credentialStatus"] = [
        {"type": ENTRY, "statusPurpose": "revocation"},
        {"type": ENTRY, "statusPurpose": "suspension"},
    ]
    issued = _issued(_issue_with(actors, credential, cryptosuite="eddsa-jcs-2022"))
    assert issued["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    revocation, suspension = issued["credentialStatus"]
    base = f"{actors.gateway.base_url}/v1/status-lists"
    assert revocation["statusListCredential"].startswith(f"{base}/") and revocation["statusPurpose"] == "revocation"
    assert suspension["statusListCredential"].startswith(f"{base}/suspension/")
    assert {"status-revocation", "status-suspension"} <= set(_verified(verify(actors, issued))["checks"])

    suspended = _status(actors, issued["id"], "suspension", True)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["statusListIndex"] == suspension["statusListIndex"]
    assert_unverified(verify(actors, issued), "status-suspended")
    assert _status(actors, issued["id"], "suspension", False).status_code == 200
    _verified(verify(actors, issued))

    assert _status(actors, issued["id"], "revocation", True).status_code == 200
    assert_unverified(verify(actors, issued), "status-revoked")
    final = _status(actors, issued["id"], "revocation", False)
    assert_problem(final, 422, "credentials/status-list")


def test_options_credential_id_names_a_credential_without_an_id(actors: Actors) -> None:
    """VC API IssueCredentialOptions.credentialId: the credential keeps no id; its status is changed by this one."""
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    issued = _issued(_issue_with(actors, credential, credentialId="urn:example:receipt-77"))
    assert "id" not in issued
    _verified(verify(actors, issued))
    assert _status(actors, "urn:example:receipt-77", "revocation", True).status_code == 200
    assert_unverified(verify(actors, issued), "status-revoked")
    again = _issue_with(actors, credential, credentialId="urn:example:receipt-77")
    assert_problem(again, 422, "credentials/status-list")
    mismatch = _issue_with(actors, {**credential, "id": "urn:example:other"}, credentialId="urn:example:receipt-78")
    assert_problem(mismatch, 422, "credentials/credentialId")
    unknown = _status(actors, "urn:example:never-issued", "revocation", True)
    assert_problem(unknown, 404, "credentials/status-list")


def test_a_complete_entry_of_a_list_the_caller_keeps_is_issued_as_given(actors: Actors) -> None:
    """BSL §2.1: a complete entry is kept; a verifier that cannot fetch that list says so (no network)."""
    entry = {
        "id": "https://status.example/lists/3#94567",
        "type": ENTRY,
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://status.example/lists/3",
    }
    credential = {**unsigned_receipt(_issuer(actors), Wallet.generate().did), "credentialStatus": entry}
    issued = _issued(_issue_with(actors, credential))
    assert issued["credentialStatus"] == entry
    assert_unverified(verify(actors, issued), "status-unavailable")


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ({"type": "StatusList2021Entry", "statusPurpose": "revocation"}, "credentialStatus-type"),
        ({"type": ENTRY, "statusPurpose": "refresh"}, "credentialStatus-purpose"),
        ({"type": ENTRY}, "credentialStatus-purpose"),
        ([{"type": ENTRY, "statusPurpose": "revocation"}] * 2, "credentialStatus-purpose"),
        ([], "credentialStatus"),
        (
            {
                "type": ENTRY,
                "statusPurpose": "revocation",
                "statusListIndex": "07",
                "statusListCredential": "https://s.example/1",
            },
            "credentialStatus-index",
        ),
        (
            {"type": ENTRY, "statusPurpose": "revocation", "statusListIndex": "7", "statusListCredential": "not a url"},
            "credentialStatus-list",
        ),
        (
            {
                "id": "https://s.example/1",
                "type": ENTRY,
                "statusPurpose": "revocation",
                "statusListIndex": "7",
                "statusListCredential": "https://s.example/1",
            },
            "credentialStatus-id",
        ),
        (
            {
                "type": ENTRY,
                "statusPurpose": "message",
                "statusListIndex": "7",
                "statusListCredential": "https://s.example/1",
                "statusSize": 2,
            },
            "credentialStatus-message",
        ),
        ("<our list>", "credentialStatus-list"),
    ],
    ids=[
        "another entry type",
        "a purpose we keep no list for",
        "no purpose",
        "two revocation entries",
        "an empty list",
        "index with a leading zero",
        "list that is not a URL",
        "entry id equal to its list",
        "message without statusMessage",
        "an index in our own list",
    ],
)
def test_status_entries_are_validated_naming_the_rule(actors: Actors, entry: Any, rule: str) -> None:
    """BSL §2.1 BitstringStatusListEntry members; indexes in our lists are ours to allocate (herd privacy §6.5)."""
    if entry == "<our list>":
        ours = f"{actors.gateway.base_url}/v1/status-lists/1"
        entry = {"type": ENTRY, "statusPurpose": "revocation", "statusListIndex": "7", "statusListCredential": ours}
    credential = {**unsigned_receipt(_issuer(actors), Wallet.generate().did), "credentialStatus": entry}
    body = assert_problem(_issue_with(actors, credential), 422, f"credentials/{rule}")
    assert body["rule"] == rule


def test_a_malformed_issue_request_is_400(actors: Actors) -> None:
    """VC API: invalid input is 400; unknown options are refused rather than ignored."""
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    assert_problem(_issue_with(actors, credential, cryptosuite="ecdsa-rdfc-2019"), 400, "validation")
    assert_problem(_issue_with(actors, credential, proofPurpose="authentication"), 400, "validation")
    with actors.gateway.client() as http:
        missing = http.post("/credentials/issue", json={"options": {}}, headers=_admin(actors))
    assert_problem(missing, 400, "validation")


# --- Point 3: credentialSchema and relatedResource (VCDM 2.0 §4.11, §5.3) -------------------------------------

_V2_SRI = "sha384-" + base64.b64encode(hashlib.sha384(bundled_bytes(VC_V2)).digest()).decode()
_V2_MULTIBASE = "z" + b58encode(b"\x12\x20" + hashlib.sha256(bundled_bytes(VC_V2)).digest())


@pytest.mark.parametrize(
    ("member", "value", "rule"),
    [
        ("credentialSchema", {"type": "JsonSchema"}, "credentialSchema-id"),
        (
            "credentialSchema",
            [{"id": "https://schema.example/1", "type": "JsonSchema"}, {"type": "JsonSchema"}],
            "credentialSchema-id",
        ),
        ("credentialSchema", {"id": "https://schema.example/1"}, "credentialSchema-type"),
        ("credentialSchema", {"id": "not a url", "type": "JsonSchema"}, "credentialSchema-id"),
        ("relatedResource", ["https://www.w3.org/ns/credentials/v2"], "related-resource"),
        ("relatedResource", {"digestSRI": _V2_SRI}, "related-resource"),
        ("relatedResource", {"id": "https://img.example/logo.png"}, "related-resource"),
        (
            "relatedResource",
            [{"id": VC_V2, "digestSRI": _V2_SRI}, {"id": VC_V2, "digestSRI": _V2_SRI}],
            "related-resource",
        ),
        ("relatedResource", {"id": VC_V2, "digestSRI": "md5-AAAA"}, "related-resource"),
        ("relatedResource", {"id": VC_V2, "digestSRI": "sha384-AAAA"}, "related-resource"),
        ("relatedResource", {"id": VC_V2, "digestMultibase": "zNotAMultihash"}, "related-resource"),
        ("relatedResource", {"id": VC_V2, "digestSRI": "sha384-" + "A" * 64}, "related-resource-digest"),
        (
            "relatedResource",
            {"id": VC_V2, "digestMultibase": "z" + b58encode(b"\x12\x20" + bytes(32))},
            "related-resource-digest",
        ),
    ],
    ids=[
        "schema without id",
        "one schema of two without id",
        "schema without type",
        "schema id not a URL",
        "resource as a string",
        "resource without id",
        "resource without digest",
        "duplicate resource ids",
        "SRI with an unknown algorithm",
        "SRI of the wrong length",
        "multibase that is no multihash",
        "wrong SRI digest of a bundled context",
        "wrong multihash of a bundled context",
    ],
)
def test_issue_enforces_vcdm2_schema_and_related_resource_rules(
    actors: Actors, member: str, value: Any, rule: str
) -> None:
    credential = {**unsigned_receipt(_issuer(actors), Wallet.generate().did), member: value}
    body = assert_problem(_issue_with(actors, credential), 422, f"credentials/{rule}")
    assert body["rule"] == rule


def test_related_resources_with_correct_digests_issue_and_verify(actors: Actors) -> None:
    """VCDM 2.0 §5.3: a bundled context's digest is checked; a resource we do not hold is only a warning."""
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    credential["relatedResource"] = [
        {"id": VC_V2, "digestSRI": _V2_SRI, "digestMultibase": _V2_MULTIBASE},
        {"id": "https://img.example/logo.png", "mediaType": "image/png", "digestSRI": "sha256-" + "A" * 43 + "="},
    ]
    credential["credentialSchema"] = {"id": "https://schema.example/receipt.json", "type": "JsonSchema"}
    issued = _issued(_issue_with(actors, credential))
    body = _verified(verify(actors, issued))
    assert any("https://img.example/logo.png" in warning for warning in body["warnings"]), body


def test_verify_reports_a_related_resource_whose_digest_does_not_match(actors: Actors) -> None:
    wallet = Wallet.generate()
    signed = _sign(wallet, _third_party(wallet, relatedResource={"id": VC_V2, "digestSRI": "sha384-" + "A" * 64}))
    assert_unverified(verify(actors, signed), "related-resource-digest")


# --- Point 5: proof sets and previousProof chains (DI 1.0 §4.3, §4.4; vc-di-eddsa) ------------------------------


@pytest.mark.parametrize("suites", [("eddsa-rdfc-2022", "eddsa-rdfc-2022"), ("eddsa-jcs-2022", "eddsa-rdfc-2022")])
def test_a_previous_proof_chain_verifies_and_breaking_it_is_named(actors: Actors, suites: tuple[str, str]) -> None:
    wallet = Wallet.generate()
    first = _sign(wallet, _third_party(wallet), cryptosuite=suites[0], proof_id="urn:uuid:proof-1")
    chained = _sign(
        wallet, first, cryptosuite=suites[1], proof_id="urn:uuid:proof-2", previous_proof="urn:uuid:proof-1"
    )
    assert [p.get("previousProof") for p in chained["proof"]] == [None, "urn:uuid:proof-1"]
    assert "previous-proof" in _verified(verify(actors, chained))["checks"]

    reordered = {**chained, "proof": list(reversed(chained["proof"]))}
    _verified(verify(actors, reordered))
    dropped = {**chained, "proof": [chained["proof"][1]]}
    assert_unverified(verify(actors, dropped), "previous-proof")
    altered = copy.deepcopy(chained)
    altered["proof"][0]["created"] = "2020-01-01T00:00:00Z"
    body = assert_unverified(verify(actors, altered), "signature")
    assert len([e for e in body["problemDetails"] if e["rule"] == "signature"]) == 2  # both links broke
    unchained = copy.deepcopy(chained)
    del unchained["proof"][1]["previousProof"]
    assert_unverified(verify(actors, unchained), "signature")


def test_a_proof_set_verifies_every_proof(actors: Actors) -> None:
    wallet = Wallet.generate()
    both = _sign(wallet, _sign(wallet, _third_party(wallet)), cryptosuite="eddsa-jcs-2022")
    assert len(both["proof"]) == 2
    _verified(verify(actors, both))
    broken = copy.deepcopy(both)
    broken["proof"][1]["proofValue"] = broken["proof"][0]["proofValue"]
    assert_unverified(verify(actors, broken), "signature")


# --- Point 6: issuing as a did:key (DID Core alsoKnownAs; did:key; BSL §3.2 issuer match) ---------------------


def test_issuing_as_the_did_key_listed_in_the_did_document(actors: Actors) -> None:
    with actors.gateway.client() as http:
        document = http.get("/.well-known/did.json").json()
    keys = [m["publicKeyMultibase"] for m in document["verificationMethod"]]
    assert document["alsoKnownAs"] == [f"did:key:{k}" for k in keys]
    did_key = document["alsoKnownAs"][-1]
    credential = unsigned_receipt(did_key, Wallet.generate().did)
    issued = _issued(_issue_with(actors, credential))
    assert issued["issuer"] == did_key
    assert issued["proof"]["verificationMethod"] == f"{did_key}#{did_key.removeprefix('did:key:')}"
    entry = issued["credentialStatus"]
    list_url = f"{actors.gateway.base_url}/v1/status-lists/did-key/{did_key.removeprefix('did:key:')}/1"
    assert entry["statusListCredential"] == list_url
    with actors.gateway.client() as http:
        status_list = http.get(list_url.removeprefix(actors.gateway.base_url))
    assert status_list.status_code == 200 and status_list.json()["issuer"] == did_key
    assert "issuer-key" in _verified(verify(actors, issued))["checks"]
    assert _status(actors, issued["id"], "revocation", True).status_code == 200
    assert_unverified(verify(actors, issued), "status-revoked")


def test_did_key_issuing_survives_a_key_rotation_and_only_the_current_key_issues(
    actors: Actors, start_gateway: Any
) -> None:
    gateway = start_gateway()
    gateway.register("admin", ["admin"], ["admin"])
    admin = {"Authorization": f"Bearer {gateway.token('admin')}"}
    with gateway.client() as http:
        old_key = http.get("/.well-known/did.json").json()["alsoKnownAs"][-1]
        credential = unsigned_receipt(old_key, Wallet.generate().did)
        before = http.post("/credentials/issue", json={"credential": credential}, headers=admin)
        assert before.status_code == 201, before.text
        assert http.post("/v1/admin/keys/issuer/rotate", headers=admin).status_code == 200
        after_document = http.get("/.well-known/did.json").json()
        assert after_document["alsoKnownAs"][0] == old_key and len(after_document["alsoKnownAs"]) == 2
        refused = http.post("/credentials/issue", json={"credential": credential}, headers=admin)
        verified = http.post(
            "/credentials/verify", json={"verifiableCredential": before.json()["verifiableCredential"]}
        )
    assert_problem(refused, 422, "credentials/issuer")
    _verified(verified)


# --- Point 8: VC API response shapes, challenges, proofless presentations --------------------------------------


def _presentation(holder: Wallet, credential: dict[str, Any] | None, **proof: Any) -> dict[str, Any]:
    unsigned: dict[str, Any] = {"@context": [VC_V2], "type": ["VerifiablePresentation"], "holder": holder.did}
    if credential is not None:
        unsigned["verifiableCredential"] = [credential]
    if not proof:
        return unsigned
    return _sign(holder, unsigned, proof_purpose="authentication", **proof)


def _verify_presentation(actors: Actors, body: dict[str, Any]) -> httpx.Response:
    with actors.gateway.client() as http:
        return http.post("/presentations/verify", json=body)


def test_a_challenge_from_post_challenges_is_accepted_once(actors: Actors) -> None:
    """VC API POST /challenges, then /presentations/verify with it as options.challenge (DI §2.2 challenge)."""
    holder = Wallet.generate()
    credential = _issued(issue(actors, unsigned_receipt(_issuer(actors), holder.did)))
    with actors.gateway.client() as http:
        created = http.post("/challenges")
    assert created.status_code == 200, created.text
    challenge, domain = created.json()["challenge"], created.json()["domain"]
    assert len(challenge) >= 43 and domain == actors.gateway.base_url.removeprefix("http://")
    signed = _presentation(holder, credential, challenge=challenge, domain=domain)
    body = {"verifiablePresentation": signed, "options": {"challenge": challenge}}
    assert {"holder-key", "credential"} <= set(_verified(_verify_presentation(actors, body))["checks"])
    assert_unverified(_verify_presentation(actors, body), "challenge-unknown")
    made_up = _presentation(holder, credential, challenge="made-up", domain=domain)
    assert_unverified(
        _verify_presentation(actors, {"verifiablePresentation": made_up, "options": {"challenge": "made-up"}}),
        "challenge-unknown",
    )


def test_a_presentation_without_a_proof_verifies_its_credentials_when_no_challenge_is_asked(actors: Actors) -> None:
    """VC API ProoflessVerifyPresentationRequest: nothing about the holder is proven, and the answer says so."""
    holder = Wallet.generate()
    credential = _issued(issue(actors, unsigned_receipt(_issuer(actors), holder.did)))
    for member in ("verifiablePresentation", "presentation"):
        body = _verified(_verify_presentation(actors, {member: _presentation(holder, credential)}))
        assert "credential" in body["checks"] and "holder-key" not in body["checks"]
        assert any(w.startswith("presentation-unsigned") for w in body["warnings"]), body
    unsigned_with_challenge = {
        "verifiablePresentation": _presentation(holder, credential),
        "options": {"challenge": "c"},
    }
    assert_unverified(_verify_presentation(actors, unsigned_with_challenge), "proof-missing")
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["consent"]["ledgerIndex"] = 99
    assert_unverified(_verify_presentation(actors, {"presentation": _presentation(holder, tampered)}), "signature")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"verifiablePresentation": [1]},
        {"verifiablePresentation": {}, "presentation": {}},
        {"verifiablePresentation": {}, "options": {"challenge": ""}},
        {"verifiablePresentation": {}, "extra": 1},
    ],
    ids=["empty", "not an object", "both members", "empty challenge", "unknown member"],
)
def test_a_malformed_presentation_request_is_400(actors: Actors, body: dict[str, Any]) -> None:
    assert _verify_presentation(actors, body).status_code == 400


def test_the_status_body_is_validated(actors: Actors) -> None:
    with actors.gateway.client() as http:
        for body in (
            {"credentialId": "x", "credentialStatus": {"type": ENTRY, "statusPurpose": "refresh"}, "status": True},
            {"credentialId": "x", "credentialStatus": {"type": ENTRY}, "status": True},
            {"credentialId": "x", "status": True},
        ):
            assert_problem(http.post("/credentials/status", json=body, headers=_admin(actors)), 400, "validation")
        # The VC API's own example names the list type; it is taken for the entry type.
        example = {
            "credentialId": "x",
            "credentialStatus": {"type": "BitstringStatusList", "statusPurpose": "revocation"},
        }
        response = http.post("/credentials/status", json={**example, "status": True}, headers=_admin(actors))
    assert_problem(response, 404, "credentials/status-list")


# --- Point 9: VC 1.1 credentials and Ed25519Signature2020 proofs (VCDM 1.1; Ed25519Signature2020) -------------


def _v11(wallet: Wallet, *contexts: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [VC_V1, *contexts],
        "id": "urn:uuid:0193a5c2-0000-7000-8000-000000000111",
        "type": ["VerifiableCredential"],
        "issuer": wallet.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
        **extra,
    }


def test_a_vc11_credential_with_an_ed25519_signature_2020_verifies(actors: Actors) -> None:
    wallet = Wallet.generate()
    signed = add_ed25519_signature_2020(
        _v11(wallet, ED25519_2020_CONTEXT),
        private_key_multibase=wallet.private_key_multibase,
        verification_method=wallet.verification_method,
    )
    assert {"data-model", "proof", "issuer-key", "validity-period"} <= set(_verified(verify(actors, signed))["checks"])
    tampered = {**signed, "issuer": Wallet.generate().did}
    assert_unverified(verify(actors, tampered), "signature")
    expired = add_ed25519_signature_2020(
        _v11(wallet, ED25519_2020_CONTEXT, expirationDate="2026-01-02T00:00:00Z"),
        private_key_multibase=wallet.private_key_multibase,
        verification_method=wallet.verification_method,
    )
    assert_unverified(verify(actors, expired), "expired")


def test_vc11_credentials_with_other_proofs_verify_and_v11_rules_are_named(actors: Actors) -> None:
    wallet = Wallet.generate()
    data_integrity = _sign(wallet, _v11(wallet, "https://w3id.org/security/data-integrity/v2"))
    _verified(verify(actors, data_integrity))
    legacy = add_ed25519_signature_2018(
        _v11(wallet), private_key_multibase=wallet.private_key_multibase, verification_method=wallet.verification_method
    )
    _verified(verify(actors, legacy))
    no_date = {k: v for k, v in data_integrity.items() if k != "issuanceDate"}
    assert_unverified(verify(actors, no_date), "issuance-date")
    remote = "https://www.w3.org/2018/credentials/examples/v1"
    unbundled = {**data_integrity, "@context": [*data_integrity["@context"], remote]}
    body = assert_unverified(verify(actors, unbundled), "canonicalization")
    assert "is not bundled" in body["problemDetails"][0]["detail"]


def test_problem_types_are_stable_uris(actors: Actors) -> None:
    wallet = Wallet.generate()
    body = assert_unverified(verify(actors, _third_party(wallet)), "proof-missing")
    assert body["problemDetails"][0]["type"] == f"{PROBLEMS}credentials/proof-missing"
