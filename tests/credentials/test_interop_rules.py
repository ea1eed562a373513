"""The library side of issue 18: proof chains, Ed25519Signature2020, related resources, did:key issuing, status.

Each test names the rule: Data Integrity 1.0 (DI), vc-di-eddsa, Ed25519Signature2020, VC Data Model 2.0 (VCDM)
and Bitstring Status List 1.0 (BSL).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from credentials import (
    VC_V1,
    VC_V2,
    ConsentReceiptClaims,
    CredentialService,
    IssuerKey,
    ProofError,
    StatusListError,
    ValidationError,
    add_proof,
    generate_key_pair,
    validate_credential,
    verify_credential,
    verify_proof,
)
from credentials.ed25519_signature_2020 import (
    ED25519_2020_CONTEXT,
    add_ed25519_signature_2020,
    verify_ed25519_signature_2020,
)
from credentials.multibase import b64url_encode
from credentials.related_resource import parse_multibase, parse_sri
from tests.credentials.test_credential_service import PREFIX, _service


def _did_key() -> IssuerKey:
    return IssuerKey.did_key(generate_key_pair().private_key_multibase)


def _credential(issuer: IssuerKey, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [VC_V2],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "credentialSubject": {"id": "did:example:subject"},
        **extra,
    }


def _sign(issuer: IssuerKey, document: dict[str, Any], **options: Any) -> dict[str, Any]:
    return add_proof(
        document,
        private_key_multibase=issuer.private_key_multibase,
        verification_method=issuer.verification_method,
        **options,
    )


def test_a_chained_proof_signs_the_proofs_it_names() -> None:
    """DI 1.0 §4.2/§4.4: previousProof may be a list; each named proof is part of what the next one signs."""
    issuer = _did_key()
    one = _sign(issuer, _credential(issuer), proof_id="urn:p:1")
    two = _sign(issuer, one, proof_id="urn:p:2", cryptosuite="eddsa-jcs-2022")
    three = _sign(issuer, two, proof_id="urn:p:3", previous_proof=["urn:p:1", "urn:p:2"])
    result = verify_proof(three)
    assert result.verified, result.errors
    assert result.checks.count("proof") == 3 and "previous-proof" in result.checks
    without_two = {**three, "proof": [three["proof"][0], three["proof"][2]]}
    assert [e.rule for e in verify_proof(without_two).errors] == ["previous-proof"]


def test_a_chain_cannot_be_made_or_read_over_missing_or_ambiguous_proofs() -> None:
    issuer = _did_key()
    one = _sign(issuer, _credential(issuer), proof_id="urn:p:1")
    with pytest.raises(ProofError, match="not in the proof set"):
        _sign(issuer, one, previous_proof="urn:p:9")
    with pytest.raises(ProofError, match="proof id"):
        _sign(issuer, one, previous_proof=[])
    twin = _sign(issuer, one, proof_id="urn:p:1")
    chained = {**twin, "proof": [*twin["proof"], {**twin["proof"][0], "previousProof": "urn:p:1"}]}
    assert "previous-proof" in [e.rule for e in verify_proof(chained).errors]


def test_ed25519_signature_2020_verifies_and_names_what_fails() -> None:
    """Ed25519Signature2020: SHA-256(RDFC options) || SHA-256(RDFC document), base58btc proofValue, no cryptosuite."""
    issuer = _did_key()
    document = {
        "@context": [VC_V1, ED25519_2020_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
    }
    signed = add_ed25519_signature_2020(
        document, private_key_multibase=issuer.private_key_multibase, verification_method=issuer.verification_method
    )
    assert "cryptosuite" not in signed["proof"]
    assert verify_ed25519_signature_2020(signed).verified
    assert verify_credential(signed).verified
    wrong_purpose = verify_ed25519_signature_2020(signed, expected_proof_purpose="authentication")
    assert [e.rule for e in wrong_purpose.errors] == ["proof-purpose"]
    expired = {**signed, "proof": {**signed["proof"], "expires": "2020-01-01T00:00:00Z"}}
    assert [e.rule for e in verify_ed25519_signature_2020(expired).errors] == ["proof-expired"]
    with pytest.raises(ProofError):
        add_ed25519_signature_2020(
            signed, private_key_multibase=issuer.private_key_multibase, verification_method=issuer.verification_method
        )


def test_digests_parse_as_sri_expressions_and_multibase_multihashes() -> None:
    """VCDM 2.0 §5.3: digestSRI holds SRI hash-expressions; digestMultibase a multibase multihash (DI §2.6)."""
    content = b"resource bytes"
    sri = " ".join(
        f"{name}-{base64.b64encode(hashlib.new(name, content).digest()).decode()}" for name in ("sha256", "sha512")
    )
    assert [digest for _, digest in parse_sri(sri)] == [
        hashlib.sha256(content).digest(),
        hashlib.sha512(content).digest(),
    ]
    sha3 = "u" + b64url_encode(b"\x16\x20" + hashlib.sha3_256(content).digest())
    assert parse_multibase([sha3])[0][1] == hashlib.sha3_256(content).digest()
    for bad in ("u" + b64url_encode(b"\x16\x20" + bytes(31)), "m" + "A" * 10, "z" * 300):
        with pytest.raises(ValidationError):
            parse_multibase(bad)


def test_a_related_resource_the_caller_holds_is_checked_against_its_digest() -> None:
    issuer = _did_key()
    image = b"\x89PNG fake image"
    entry = {
        "id": "https://img.example/logo.png",
        "digestSRI": "sha384-" + base64.b64encode(hashlib.sha384(image).digest()).decode(),
    }
    credential = _sign(issuer, _credential(issuer, relatedResource=[entry]))
    assert validate_credential(credential) == ["https://img.example/logo.png"]
    assert verify_credential(credential, resources={entry["id"]: image}).warnings == []
    changed = verify_credential(credential, resources={entry["id"]: image + b"!"})
    assert [e.rule for e in changed.errors] == ["related-resource-digest"]


@pytest.fixture
def service(sqlite_url: str, tmp_path: Path) -> CredentialService:
    return _service(sqlite_url, tmp_path)


def test_receipts_are_issued_revoked_and_verified_as_did_web_or_did_key(
    service: CredentialService, claims: ConsentReceiptClaims
) -> None:
    """BSL §3.2: a did:key receipt's list is signed by that did:key, so list and credential issuers match."""
    did_key = service.keyring.did_key().did
    for issuer, family in ((None, PREFIX), (did_key, f"{PREFIX}/did-key/{did_key.removeprefix('did:key:')}")):
        receipt = service.issue_receipt(claims, issuer=issuer)
        assert receipt["credentialStatus"]["statusListCredential"] == f"{family}/1"
        assert service.status_list_credential(f"{family}/1")["issuer"] == receipt["issuer"]
        assert service.verify_credential(receipt).verified
        service.revoke(receipt)
        assert [e.rule for e in service.verify_credential(receipt).errors] == ["status-revoked"]
    assert service.did_document()["alsoKnownAs"] == [did_key]
    with pytest.raises(StatusListError):
        service.status_list_credential(f"{PREFIX}/did-key/{_did_key().did.removeprefix('did:key:')}/1")


def test_suspension_is_set_and_cleared_by_credential_id_and_revocation_is_final(
    service: CredentialService, claims: ConsentReceiptClaims
) -> None:
    credential = service.issue(
        {
            **_credential(service.keyring.current),
            "credentialStatus": [
                {"type": "BitstringStatusListEntry", "statusPurpose": "suspension"},
                {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            ],
        },
        credential_id="urn:example:77",
    )
    assert "id" not in credential
    service.update_status("urn:example:77", "suspension", True)
    assert [e.rule for e in service.verify_credential(credential).errors] == ["status-suspended"]
    service.update_status("urn:example:77", "suspension", False)
    assert service.verify_credential(credential).verified
    service.update_status("urn:example:77", "revocation", True)
    with pytest.raises(StatusListError, match="final"):
        service.update_status("urn:example:77", "revocation", False)
    with pytest.raises(StatusListError, match="issued no credential"):
        service.update_status("urn:example:78", "revocation", True)
    with pytest.raises(ValidationError) as too_long:
        service.issue(_credential(service.keyring.current), credential_id="urn:x:" + "y" * 600)
    assert too_long.value.rule == "credentialId"
