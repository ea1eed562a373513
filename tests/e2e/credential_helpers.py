"""A customer's wallet and a consent receipt body, as the VC API tests over HTTP need them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from credentials import (
    ConsentReceiptClaims,
    build_consent_receipt,
    create_did_auth_presentation,
    did_key_verification_method,
    generate_key_pair,
)


@dataclass(frozen=True)
class Wallet:
    """A did:key wallet: the DID, its key URL and the private key that never leaves the test."""

    did: str
    verification_method: str
    private_key_multibase: str

    @classmethod
    def generate(cls) -> Wallet:
        pair = generate_key_pair()
        method = did_key_verification_method(pair.public_key_multibase)
        return cls(method.split("#")[0], method, pair.private_key_multibase)

    def login_presentation(self, challenge: str, domain: str) -> dict[str, Any]:
        return create_did_auth_presentation(
            self.did,
            private_key_multibase=self.private_key_multibase,
            verification_method=self.verification_method,
            challenge=challenge,
            domain=domain,
        )


def receipt_claims(subject_did: str, *, ledger_index: int = 7) -> ConsentReceiptClaims:
    return ConsentReceiptClaims(
        record_id="0193a5c2-0000-7000-8000-000000000042",
        subject_did=subject_did,
        controller="https://consentry.example/org/acme-motors",
        purposes=["https://w3id.org/dpv#ServiceProvision"],
        data_categories=["https://w3id.org/dpv/pd#VehicleIdentificationNumber"],
        recipients=["urn:consentry:org:dealer-42"],
        jurisdiction="CN",
        legal_basis="https://w3id.org/dpv#Consent",
        notice_version="2026-03",
        notice_hash="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        given_at="2026-01-01T08:00:00Z",
        ledger_index=ledger_index,
    )


def unsigned_receipt(issuer: str, subject_did: str) -> dict[str, Any]:
    """What an administrator posts to /credentials/issue: a receipt without id, status or proof."""
    credential = build_consent_receipt(receipt_claims(subject_did), issuer=issuer, credential_status=None)
    del credential["id"]
    return credential
