"""didkit (an independent Rust implementation) and we verify each other's VC 1.1 receipts.

Interoperates: Ed25519Signature2018 LD proofs and EdDSA JWT-VCs over did:key, both directions.
Not covered: didkit 0.3 cannot process VC 2.0 / DataIntegrityProof, and we do not bundle the
Ed25519Signature2020 context, so those two are one-sided by construction.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from credentials import (
    ConsentReceiptClaims,
    IssuerKey,
    add_ed25519_signature_2018,
    didkit_issue_sync,
    didkit_verify_sync,
    generate_key_pair,
    issue_jwt_vc,
    receipt_v11,
    verify_ed25519_signature_2018,
    verify_jwt_vc,
)
from credentials.errors import ProofError


@pytest.fixture
def key() -> IssuerKey:
    return IssuerKey.did_key(generate_key_pair().private_key_multibase)


@pytest.fixture
def receipt(claims: ConsentReceiptClaims, key: IssuerKey) -> dict[str, Any]:
    return receipt_v11(
        claims,
        issuer=key.did,
        credential_id="urn:uuid:3b9f0c62-0000-4000-8000-000000000001",
        issuance_date=claims.given_at,
    )


def test_we_verify_didkits_ed25519_signature_2018_receipt(receipt: dict[str, Any], key: IssuerKey) -> None:
    issued = didkit_issue_sync(
        receipt, private_key_multibase=key.private_key_multibase, verification_method=key.verification_method
    )
    assert isinstance(issued, dict) and issued["proof"]["type"] == "Ed25519Signature2018"
    result = verify_ed25519_signature_2018(issued)
    assert result.verified, result.errors
    changed = copy.deepcopy(issued)
    changed["credentialSubject"]["consent"]["ledgerIndex"] = 42
    assert [e.rule for e in verify_ed25519_signature_2018(changed).errors] == ["signature"]


def test_didkit_verifies_our_ed25519_signature_2018_receipt(receipt: dict[str, Any], key: IssuerKey) -> None:
    ours = add_ed25519_signature_2018(
        receipt, private_key_multibase=key.private_key_multibase, verification_method=key.verification_method
    )
    assert didkit_verify_sync(ours).verified
    changed = copy.deepcopy(ours)
    changed["credentialSubject"]["consent"]["ledgerIndex"] = 42
    assert not didkit_verify_sync(changed).verified


def test_we_verify_didkits_jwt_vc(receipt: dict[str, Any], key: IssuerKey) -> None:
    token = didkit_issue_sync(
        receipt,
        private_key_multibase=key.private_key_multibase,
        verification_method=key.verification_method,
        proof_format="jwt",
    )
    assert isinstance(token, str)
    assert verify_jwt_vc(token)["credentialSubject"]["consent"]["ledgerIndex"] == 41
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(ProofError, match="signature"):
        verify_jwt_vc(forged)


def test_didkit_verifies_our_jwt_vc(receipt: dict[str, Any], key: IssuerKey) -> None:
    token = issue_jwt_vc(receipt, private_key_multibase=key.private_key_multibase, kid=key.verification_method)
    assert didkit_verify_sync(token, proof_format="jwt").verified
    other = IssuerKey.did_key(generate_key_pair().private_key_multibase)
    wrong_key = issue_jwt_vc(receipt, private_key_multibase=other.private_key_multibase, kid=key.verification_method)
    assert not didkit_verify_sync(wrong_key, proof_format="jwt").verified


def test_ed25519_signature_2020_is_didkit_only_and_we_refuse_it_by_name(
    receipt: dict[str, Any], key: IssuerKey
) -> None:
    issued = didkit_issue_sync(
        receipt,
        private_key_multibase=key.private_key_multibase,
        verification_method=key.verification_method,
        proof_type="Ed25519Signature2020",
    )
    assert isinstance(issued, dict) and issued["proof"]["type"] == "Ed25519Signature2020"
    assert didkit_verify_sync(issued).verified
    ours = verify_ed25519_signature_2018(issued)
    assert not ours.verified and "Ed25519Signature2018" in ours.errors[0].message
