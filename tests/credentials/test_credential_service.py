"""CredentialService: the calls the gateway makes, end to end on a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from credentials import (
    ConsentReceiptClaims,
    CredentialService,
    DidAuthError,
    IssuerKeyring,
    StatusListError,
    StatusListRepository,
    ValidationError,
    add_proof,
    create_did_auth_presentation,
    new_challenge,
)
from credentials import status_store as status_store_module
from credentials.migrations import upgrade

PREFIX = "https://consentry.example/credentials/status"


def _service(url: str, tmp_path: Path) -> CredentialService:
    engine = create_engine(url)
    upgrade(engine)
    keyring = IssuerKeyring.load_or_create(tmp_path / "issuer-keys.json", "did:web:consentry.example")
    return CredentialService(
        keyring=keyring, repository=StatusListRepository(engine), domain="consentry.example", status_url_prefix=PREFIX
    )


def _grant_then_withdraw(service: CredentialService, claims: ConsentReceiptClaims) -> None:
    engine = service.repository._engine
    with engine.begin() as conn:  # the consent event's ledger transaction
        receipt = service.issue_receipt(claims, conn=conn)
    assert receipt["credentialStatus"]["statusListCredential"] == f"{PREFIX}/1"
    assert service.verify_credential(receipt).verified
    published = service.status_list_credential(f"{PREFIX}/1")
    assert published["credentialSubject"]["encodedList"].startswith("u")

    with engine.begin() as conn:  # the withdrawal's ledger transaction
        service.revoke(receipt, conn=conn)
    assert [e.rule for e in service.verify_credential(receipt).errors] == ["status-revoked"]


def test_grant_receipt_withdraw_revoked_on_sqlite(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims
) -> None:
    _grant_then_withdraw(_service(sqlite_url, tmp_path), claims)


@pytest.mark.postgres
def test_grant_receipt_withdraw_revoked_on_postgresql(
    postgres_url: str, tmp_path: Path, claims: ConsentReceiptClaims
) -> None:
    _grant_then_withdraw(_service(postgres_url, tmp_path), claims)


def test_a_full_list_rolls_over_to_the_next(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service(sqlite_url, tmp_path)
    service.issue_receipt(claims)
    original = status_store_module.StatusListRepository.allocate

    def full_first_list(self: StatusListRepository, url: str, **kwargs: Any) -> int:
        if url.endswith("/1"):
            raise StatusListError(f"status list {url} is full")
        return original(self, url, **kwargs)

    monkeypatch.setattr(status_store_module.StatusListRepository, "allocate", full_first_list)
    second = service.issue_receipt(claims)
    assert second["credentialStatus"]["statusListCredential"] == f"{PREFIX}/2"
    assert service.verify_credential(second).verified


def test_foreign_status_lists_are_neither_revoked_nor_fetched(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims
) -> None:
    service = _service(sqlite_url, tmp_path)
    receipt = service.issue_receipt(claims)
    receipt["credentialStatus"]["statusListCredential"] = "https://elsewhere.example/status/1"
    with pytest.raises(StatusListError, match="not one of our"):
        service.revoke(receipt)


def test_wallet_login_through_the_service(sqlite_url: str, tmp_path: Path, holder: tuple[str, str, str]) -> None:
    service = _service(sqlite_url, tmp_path)
    did, vm, key = holder
    challenge = new_challenge()
    presentation = create_did_auth_presentation(
        did, private_key_multibase=key, verification_method=vm, challenge=challenge, domain="consentry.example"
    )
    assert service.verify_wallet_login(presentation, challenge=challenge) == did
    with pytest.raises(DidAuthError):
        service.verify_wallet_login(presentation, challenge=new_challenge())
    assert service.did_document()["id"] == "did:web:consentry.example"


def test_presentation_of_a_receipt_through_the_service(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims, holder: tuple[str, str, str]
) -> None:
    service = _service(sqlite_url, tmp_path)
    receipt = service.issue_receipt(claims)
    did, vm, key = holder
    challenge = new_challenge()
    presentation = add_proof(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": did,
            "verifiableCredential": [receipt],
        },
        private_key_multibase=key,
        verification_method=vm,
        proof_purpose="authentication",
        challenge=challenge,
        domain="consentry.example",
    )
    result = service.verify_presentation(presentation, challenge=challenge)
    assert result.verified, result.errors
    assert {"holder-key", "credential"} <= set(result.checks)
    service.revoke(receipt)
    assert [e.rule for e in service.verify_presentation(presentation, challenge=challenge).errors] == ["status-revoked"]


def _unsigned(claims: ConsentReceiptClaims) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://consentry.dev/ns/consent/v1"],
        "type": ["VerifiableCredential", "ConsentReceiptCredential"],
        "credentialSubject": {"id": claims.subject_did, "consent": claims.consent_record()},
    }


@pytest.mark.parametrize("cryptosuite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_issue_signs_any_credential_as_us_with_our_revocation_entry(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims, cryptosuite: str
) -> None:
    service = _service(sqlite_url, tmp_path)
    issued = service.issue(_unsigned(claims), cryptosuite=cryptosuite)
    assert issued["issuer"] == "did:web:consentry.example"
    assert issued["id"].startswith("urn:uuid:") and issued["validFrom"]
    assert issued["credentialStatus"]["statusListCredential"] == f"{PREFIX}/1"
    assert issued["proof"]["cryptosuite"] == cryptosuite
    assert service.verify_credential(issued).verified
    service.revoke(issued)
    assert [e.rule for e in service.verify_credential(issued).errors] == ["status-revoked"]


@pytest.mark.parametrize(
    ("member", "value", "rule"),
    [
        ("issuer", "did:web:someone-else.example", "issuer"),
        ("credentialStatus", {"type": "BitstringStatusListEntry"}, "credentialStatus-purpose"),
        (
            "credentialStatus",
            {
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "5",
                "statusListCredential": f"{PREFIX}/1",
            },
            "credentialStatus-list",
        ),
        ("proof", {"type": "DataIntegrityProof"}, "proof"),
    ],
)
def test_issue_refuses_to_vouch_for_what_is_not_ours(
    sqlite_url: str, tmp_path: Path, claims: ConsentReceiptClaims, member: str, value: Any, rule: str
) -> None:
    service = _service(sqlite_url, tmp_path)
    with pytest.raises(ValidationError) as refused:
        service.issue({**_unsigned(claims), member: value})
    assert refused.value.rule == rule
