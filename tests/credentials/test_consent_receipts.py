"""Consent receipts end to end in the library: grant → receipt → withdraw (bit flip in the ledger's
transaction) → verification says revoked. The HTTP round trip is the gateway's test."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from credentials import (
    ConsentReceiptClaims,
    DidResolver,
    IssuerKey,
    StatusListRepository,
    ValidationError,
    canonicalize,
    encode_list,
    issue_consent_receipt,
    new_bitstring,
    publish_status_list,
    status_entry,
    verify_credential,
)
from credentials.migrations import upgrade

LIST_URL = "https://consentry.example/credentials/status/1"
DURING = None  # the real clock: status lists are signed "now", receipts run 2026-2036


@pytest.fixture
def repository(sqlite_url: str) -> StatusListRepository:
    engine = create_engine(sqlite_url)
    upgrade(engine)
    repository = StatusListRepository(engine)
    repository.create_list(LIST_URL)
    return repository


def _issue(
    repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey, suite: str
) -> dict[str, Any]:
    index = repository.allocate(LIST_URL)
    return issue_consent_receipt(
        claims, issuer_key=issuer, credential_status=status_entry(LIST_URL, index), cryptosuite=suite
    )


def test_receipt_carries_the_iso_27560_fields_as_linked_data(
    repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey
) -> None:
    receipt = _issue(repository, claims, issuer, "eddsa-rdfc-2022")
    consent = receipt["credentialSubject"]["consent"]
    assert receipt["credentialSubject"]["id"] == claims.subject_did
    assert receipt["validFrom"] == claims.given_at and receipt["validUntil"] == claims.valid_until
    assert consent["ledgerIndex"] == 41 and consent["noticeHash"] == claims.notice_hash
    nquads = canonicalize({k: v for k, v in receipt.items() if k != "proof"})
    assert "<https://w3id.org/dpv#hasPurpose> <https://w3id.org/dpv#ServiceProvision>" in nquads
    assert "<https://w3id.org/dpv#hasPersonalData> <https://w3id.org/dpv/pd#EmailAddress>" in nquads
    assert (
        '<https://consentry.dev/ns/consent#ledgerIndex> "41"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>'
        in nquads
    )
    assert "<https://w3id.org/dpv#hasLegalBasis> <https://w3id.org/dpv#Consent>" in nquads
    assert "<https://www.w3.org/ns/credentials/status#statusListIndex>" in nquads


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_grant_receipt_withdraw_then_verification_says_revoked(
    suite: str, repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver
) -> None:
    receipt = _issue(repository, claims, issuer, suite)

    def lookup(url: str) -> dict[str, Any]:
        return publish_status_list(repository, url, issuer_key=issuer)

    granted = verify_credential(receipt, resolver=resolver, status_list_lookup=lookup, now=DURING)
    assert granted.verified, granted.errors
    assert {"data-model", "proof", "issuer-key", "validity-period", "status-revocation"} <= set(granted.checks)

    index = int(receipt["credentialStatus"]["statusListIndex"])
    with repository._engine.begin() as conn:  # the ledger's append transaction in the gateway
        repository.set_status(LIST_URL, index, conn=conn)

    withdrawn = verify_credential(receipt, resolver=resolver, status_list_lookup=lookup, now=DURING)
    assert [e.rule for e in withdrawn.errors] == ["status-revoked"]


def test_validity_period_is_enforced(
    repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver
) -> None:
    receipt = _issue(repository, claims, issuer, "eddsa-rdfc-2022")

    def lookup(url: str) -> dict[str, Any]:
        return publish_status_list(repository, url, issuer_key=issuer)

    before = verify_credential(
        receipt, resolver=resolver, status_list_lookup=lookup, now=datetime(2025, 1, 1, tzinfo=UTC)
    )
    after = verify_credential(
        receipt, resolver=resolver, status_list_lookup=lookup, now=datetime(2037, 1, 1, tzinfo=UTC)
    )
    assert before.errors[0].rule == "not-yet-valid"
    assert after.errors[0].rule == "expired"


def test_status_list_from_another_issuer_or_unavailable_is_an_error(
    repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver
) -> None:
    receipt = _issue(repository, claims, issuer, "eddsa-rdfc-2022")
    assert [e.rule for e in verify_credential(receipt, resolver=resolver, now=DURING).errors] == ["status-unavailable"]
    impostor = IssuerKey.did_key(issuer.private_key_multibase)  # same key material, but another DID

    def forged(url: str) -> dict[str, Any]:
        return publish_status_list(repository, url, issuer_key=impostor)

    result = verify_credential(receipt, resolver=resolver, status_list_lookup=forged, now=DURING)
    assert [e.rule for e in result.errors] == ["status-list-issuer"]


def test_a_tampered_status_list_credential_is_rejected(
    repository: StatusListRepository, claims: ConsentReceiptClaims, issuer: IssuerKey, resolver: DidResolver
) -> None:
    receipt = _issue(repository, claims, issuer, "eddsa-rdfc-2022")
    index = int(receipt["credentialStatus"]["statusListIndex"])
    repository.set_status(LIST_URL, index)
    published = publish_status_list(repository, LIST_URL, issuer_key=issuer)
    cleared = copy.deepcopy(published)
    cleared["credentialSubject"]["encodedList"] = encode_list(new_bitstring())
    result = verify_credential(receipt, resolver=resolver, status_list_lookup=lambda url: cleared, now=DURING)
    assert [e.rule for e in result.errors] == ["status-list-invalid"]


def test_receipt_claims_are_checked_before_signing(claims: ConsentReceiptClaims, issuer: IssuerKey) -> None:
    bad = [
        {"purposes": ["marketing"]},
        {"data_categories": []},
        {"legal_basis": "consent"},
        {"given_at": "yesterday"},
        {"ledger_index": -1},
        {"status": "withdrawn"},
    ]
    for change in bad:
        fields = {**claims.__dict__, **change}
        with pytest.raises(ValidationError):
            issue_consent_receipt(ConsentReceiptClaims(**fields), issuer_key=issuer, credential_status=None)
