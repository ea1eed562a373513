"""VC Data Model 2.0 rules, each with an input that breaks it (§4 Basic Concepts, §5 Advanced Concepts)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from credentials import (
    DidResolver,
    IssuerKey,
    ValidationError,
    add_proof,
    create_did_auth_presentation,
    validate_credential,
    validate_presentation,
    verify_credential,
    verify_presentation,
    verify_proof,
)
from tests.credentials.cred_constants import DOMAIN

V2 = "https://www.w3.org/ns/credentials/v2"


def _valid() -> dict[str, Any]:
    return {
        "@context": [V2],
        "id": "urn:uuid:6a1ee0d4-0000-4000-8000-000000000000",
        "type": ["VerifiableCredential"],
        "issuer": "did:web:consentry.example",
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alice"},
    }


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc[key] = value

    return change


CASES = [
    ("context-not-a-list", _set("@context", V2), "context"),
    ("context-not-vc-2-0-first", _set("@context", ["https://www.w3.org/2018/credentials/v1", V2]), "context"),
    ("context-vc-1-1", _set("@context", ["https://www.w3.org/2018/credentials/v1"]), "context"),
    ("type-missing-verifiable-credential", _set("type", ["ConsentReceiptCredential"]), "type"),
    ("type-does-not-expand", _set("type", ["VerifiableCredential", "UndefinedCredential"]), "type-expansion"),
    ("issuer-not-url", _set("issuer", "Acme Motors"), "issuer"),
    ("issuer-object-without-url", _set("issuer", {"name": "Acme"}), "issuer"),
    ("id-not-url", _set("id", "receipt 42"), "id"),
    ("subject-empty-object", _set("credentialSubject", {}), "credential-subject"),
    ("subject-empty-list", _set("credentialSubject", []), "credential-subject"),
    ("subject-id-not-url", _set("credentialSubject", {"id": "alice"}), "credential-subject"),
    ("valid-from-no-zone", _set("validFrom", "2026-01-01T00:00:00"), "datetime"),
    ("valid-from-date-only", _set("validFrom", "2026-01-01"), "datetime"),
    ("valid-until-month-13", _set("validUntil", "2026-13-01T00:00:00Z"), "datetime"),
    ("valid-until-before-valid-from", _set("validUntil", "2025-12-31T23:59:59Z"), "validity-period"),
    (
        "status-without-type",
        _set("credentialStatus", {"id": "https://consentry.example/status/1#5"}),
        "credentialStatus-type",
    ),
    ("evidence-without-type", _set("evidence", [{"id": "https://consentry.example/ledger/41"}]), "evidence-type"),
    (
        "schema-without-type",
        _set("credentialSchema", {"id": "https://consentry.example/schema"}),
        "credentialSchema-type",
    ),
    ("terms-of-use-without-type", _set("termsOfUse", {"id": "https://consentry.example/terms"}), "termsOfUse-type"),
]


def test_the_valid_baseline_passes() -> None:
    validate_credential(_valid())


@pytest.mark.parametrize(("name", "change", "rule"), CASES, ids=[c[0] for c in CASES])
def test_rule_violation_is_rejected(name: str, change: Callable[[dict[str, Any]], None], rule: str) -> None:
    document = _valid()
    change(document)
    with pytest.raises(ValidationError) as info:
        validate_credential(document)
    assert info.value.rule == rule


# A credential whose first context is VC 1.1 is judged by the VC 1.1 model, whose first missing piece here is
# issuanceDate (VC 1.1 §4.6).
VERIFY_CASES = [
    (name, change, "issuance-date" if name.startswith("context-") and name != "context-not-a-list" else rule)
    for name, change, rule in CASES[:4]
]


@pytest.mark.parametrize(("name", "change", "rule"), VERIFY_CASES, ids=[c[0] for c in VERIFY_CASES])
def test_verify_credential_reports_the_rule_instead_of_verifying(
    name: str, change: Callable[[dict[str, Any]], None], rule: str, issuer: IssuerKey, resolver: DidResolver
) -> None:
    document = _valid()
    document["issuer"] = issuer.did
    change(document)
    result = verify_credential(document, resolver=resolver)
    assert not result.verified
    assert result.errors[0].rule == rule


def test_presentation_needs_vc_2_0_context_and_type() -> None:
    with pytest.raises(ValidationError, match="VerifiablePresentation"):
        validate_presentation({"@context": [V2], "type": ["VerifiableCredential"]})
    with pytest.raises(ValidationError) as info:
        validate_presentation({"@context": [V2], "type": ["VerifiablePresentation"], "holder": "alice"})
    assert info.value.rule == "holder"


def test_proof_with_wrong_challenge_or_domain_is_rejected(holder: tuple[str, str, str]) -> None:
    did, vm, key = holder
    presentation = create_did_auth_presentation(
        did, private_key_multibase=key, verification_method=vm, challenge="c-1", domain=DOMAIN
    )
    assert verify_presentation(presentation, challenge="c-1", domain=DOMAIN).verified
    wrong_challenge = verify_presentation(presentation, challenge="c-2", domain=DOMAIN)
    assert [e.rule for e in wrong_challenge.errors] == ["proof-challenge"]
    wrong_domain = verify_presentation(presentation, challenge="c-1", domain="evil.example")
    assert [e.rule for e in wrong_domain.errors] == ["proof-domain"]


def test_a_proof_carrying_an_unexpected_challenge_is_rejected(issuer: IssuerKey, resolver: DidResolver) -> None:
    document = _valid()
    document["issuer"] = issuer.did
    secured = add_proof(
        document,
        private_key_multibase=issuer.private_key_multibase,
        verification_method=issuer.verification_method,
        challenge="from-another-session",
    )
    assert [e.rule for e in verify_proof(secured, resolver=resolver).errors] == ["proof-challenge"]


def test_proof_purpose_must_match(issuer: IssuerKey, resolver: DidResolver) -> None:
    document = _valid()
    document["issuer"] = issuer.did
    secured = add_proof(
        document, private_key_multibase=issuer.private_key_multibase, verification_method=issuer.verification_method
    )
    wrong = copy.deepcopy(secured)
    wrong["proof"]["proofPurpose"] = "authentication"
    assert [e.rule for e in verify_proof(wrong, resolver=resolver).errors] == ["proof-purpose"]


def test_issuer_must_control_the_signing_key(holder: tuple[str, str, str], resolver: DidResolver) -> None:
    _did, vm, key = holder
    document = _valid()
    document["issuer"] = "did:web:consentry.example"
    forged = add_proof(document, private_key_multibase=key, verification_method=vm)
    result = verify_credential(forged, resolver=resolver)
    assert [e.rule for e in result.errors] == ["issuer-key"]
