"""Presentations carrying receipts (the VC API's /presentations/verify) and verification under threads."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from credentials import (
    ConsentReceiptClaims,
    DidResolver,
    IssuerKey,
    add_proof,
    issue_consent_receipt,
    verify_presentation,
    verify_proof,
)
from tests.credentials.cred_constants import DOMAIN


def _present(receipt: dict[str, Any], holder: tuple[str, str, str], challenge: str) -> dict[str, Any]:
    did, vm, key = holder
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": did,
        "verifiableCredential": [receipt],
    }
    return add_proof(
        presentation,
        private_key_multibase=key,
        verification_method=vm,
        proof_purpose="authentication",
        challenge=challenge,
        domain=DOMAIN,
    )


def test_holder_presents_a_receipt(
    claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver, holder: tuple[str, str, str]
) -> None:
    receipt = issue_consent_receipt(claims, issuer_key=issuer, credential_status=None)
    result = verify_presentation(_present(receipt, holder, "c-9"), challenge="c-9", domain=DOMAIN, resolver=resolver)
    assert result.verified, result.errors
    assert "credential" in result.checks


def test_a_presentation_with_a_tampered_receipt_fails(
    claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver, holder: tuple[str, str, str]
) -> None:
    receipt = issue_consent_receipt(claims, issuer_key=issuer, credential_status=None)
    receipt["credentialSubject"]["consent"]["purposes"].append("https://w3id.org/dpv#Marketing")
    presentation = _present(receipt, holder, "c-9")
    result = verify_presentation(presentation, challenge="c-9", domain=DOMAIN, resolver=resolver)
    assert [e.rule for e in result.errors] == ["signature"]


def test_concurrent_verification_gives_the_same_verdicts(
    claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver
) -> None:
    good = [issue_consent_receipt(claims, issuer_key=issuer, credential_status=None) for _ in range(4)]
    bad = []
    for receipt in good:
        changed = copy.deepcopy(receipt)
        changed["credentialSubject"]["consent"]["ledgerIndex"] += 1
        bad.append(changed)
    documents = (good + bad) * 5
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(lambda d: verify_proof(d, resolver=resolver).verified, documents))
    assert verdicts == ([True] * 4 + [False] * 4) * 5
