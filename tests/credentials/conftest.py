"""Fixtures for the credentials tests: the W3C vector key, a did:web issuer and a consent record."""

from __future__ import annotations

import pytest

from credentials import (
    ConsentReceiptClaims,
    DidResolver,
    IssuerKey,
    did_key_verification_method,
    did_web_document,
    generate_key_pair,
)
from tests.credentials.cred_constants import ISSUER_DID


@pytest.fixture(scope="session")
def issuer_keys() -> list[str]:
    """Two private keys: the first was rotated out, the second is current."""
    return [generate_key_pair().private_key_multibase for _ in range(2)]


@pytest.fixture(scope="session")
def issuer(issuer_keys: list[str]) -> IssuerKey:
    return IssuerKey.did_web(ISSUER_DID, issuer_keys[-1])


@pytest.fixture(scope="session")
def resolver(issuer_keys: list[str]) -> DidResolver:
    publics = [IssuerKey.did_web(ISSUER_DID, k).verification_method.split("#")[1] for k in issuer_keys]
    return DidResolver({ISSUER_DID: did_web_document(ISSUER_DID, publics)})


@pytest.fixture(scope="session")
def holder() -> tuple[str, str, str]:
    """(did, verification method, private key) of a customer's wallet."""
    pair = generate_key_pair()
    vm = did_key_verification_method(pair.public_key_multibase)
    return vm.split("#")[0], vm, pair.private_key_multibase


@pytest.fixture
def claims(holder: tuple[str, str, str]) -> ConsentReceiptClaims:
    return ConsentReceiptClaims(
        record_id="c0ffee00-0000-7000-8000-000000000001",
        subject_did=holder[0],
        controller="https://consentry.example/org/acme-motors",
        purposes=["https://w3id.org/dpv#ServiceProvision", "https://w3id.org/dpv#CustomerCare"],
        data_categories=["https://w3id.org/dpv/pd#EmailAddress", "https://w3id.org/dpv/pd#VehicleIdentificationNumber"],
        recipients=["urn:consentry:org:dealer-42"],
        jurisdiction="CN",
        legal_basis="https://w3id.org/dpv#Consent",
        notice_version="2026-03",
        notice_hash="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        given_at="2026-01-01T08:00:00Z",
        valid_until="2036-01-01T08:00:00Z",
        ledger_index=41,
    )
