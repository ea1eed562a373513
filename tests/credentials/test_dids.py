"""did:key and did:web (offline), Multikey, and key rotation that keeps old receipts verifiable."""

from __future__ import annotations

from typing import Any

import pytest

from credentials import (
    DidResolutionError,
    DidResolver,
    IssuerKey,
    KeyFormatError,
    add_proof,
    did_key_document,
    did_web_document,
    did_web_document_url,
    did_web_from_domain,
    generate_key_pair,
    public_key_from_multibase,
    verify_proof,
)
from tests.credentials.cred_constants import ISSUER_DID, VECTOR_PUBLIC


def _doc() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": ISSUER_DID,
        "credentialSubject": {"id": "did:example:alice"},
    }


def test_did_key_document_is_derived_from_the_identifier() -> None:
    did = f"did:key:{VECTOR_PUBLIC}"
    document = did_key_document(did)
    vm = f"{did}#{VECTOR_PUBLIC}"
    assert document["verificationMethod"] == [
        {"id": vm, "type": "Multikey", "controller": did, "publicKeyMultibase": VECTOR_PUBLIC}
    ]
    assert document["assertionMethod"] == document["authentication"] == [vm]
    assert DidResolver().verification_method(vm, "assertionMethod").public_key_multibase == VECTOR_PUBLIC


def test_multikey_must_be_ed25519_base58btc() -> None:
    with pytest.raises(KeyFormatError):
        public_key_from_multibase("z" + "1" * 40)
    with pytest.raises(KeyFormatError, match="prefix"):
        public_key_from_multibase("m" + VECTOR_PUBLIC[1:])
    with pytest.raises(KeyFormatError, match="base58btc character"):
        public_key_from_multibase("z0OIl")
    with pytest.raises(DidResolutionError):
        did_key_document("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")


def test_did_web_identifier_and_document_location() -> None:
    assert did_web_from_domain("consentry.example") == "did:web:consentry.example"
    assert did_web_from_domain("localhost:8443") == "did:web:localhost%3A8443"
    assert did_web_document_url("did:web:consentry.example") == "https://consentry.example/.well-known/did.json"
    assert did_web_document_url("did:web:localhost%3A8443:issuers:1") == "https://localhost:8443/issuers/1/did.json"


def test_unconfigured_did_web_is_never_fetched() -> None:
    with pytest.raises(DidResolutionError, match="offline"):
        DidResolver().resolve("did:web:attacker.example")


def test_a_document_that_names_another_did_is_rejected() -> None:
    pair = generate_key_pair()
    document = did_web_document("did:web:other.example", [pair.public_key_multibase])
    with pytest.raises(DidResolutionError, match="names itself"):
        DidResolver({ISSUER_DID: document}).resolve(ISSUER_DID)


def test_rotation_keeps_earlier_receipts_verifiable_and_login_on_the_newest_key() -> None:
    old, new = generate_key_pair(), generate_key_pair()
    signed_before = add_proof(
        _doc(),
        private_key_multibase=old.private_key_multibase,
        verification_method=f"{ISSUER_DID}#{old.public_key_multibase}",
    )
    rotated = DidResolver(
        {ISSUER_DID: did_web_document(ISSUER_DID, [old.public_key_multibase, new.public_key_multibase])}
    )
    assert verify_proof(signed_before, resolver=rotated).verified
    signed_after = add_proof(
        _doc(),
        private_key_multibase=new.private_key_multibase,
        verification_method=IssuerKey.did_web(ISSUER_DID, new.private_key_multibase).verification_method,
    )
    assert verify_proof(signed_after, resolver=rotated).verified
    with pytest.raises(DidResolutionError, match="not authorized for authentication"):
        rotated.verification_method(f"{ISSUER_DID}#{old.public_key_multibase}", "authentication")


def test_a_key_missing_from_the_document_does_not_verify() -> None:
    listed, unlisted = generate_key_pair(), generate_key_pair()
    signed = add_proof(
        _doc(),
        private_key_multibase=unlisted.private_key_multibase,
        verification_method=f"{ISSUER_DID}#{unlisted.public_key_multibase}",
    )
    resolver = DidResolver({ISSUER_DID: did_web_document(ISSUER_DID, [listed.public_key_multibase])})
    assert [e.rule for e in verify_proof(signed, resolver=resolver).errors] == ["did-resolution"]


def test_a_proof_set_needs_every_proof_to_verify() -> None:
    first, second = generate_key_pair(), generate_key_pair()
    signed = add_proof(
        _doc(),
        private_key_multibase=first.private_key_multibase,
        verification_method=f"{ISSUER_DID}#{first.public_key_multibase}",
    )
    both = add_proof(
        signed,
        private_key_multibase=second.private_key_multibase,
        verification_method=f"{ISSUER_DID}#{second.public_key_multibase}",
    )
    assert isinstance(both["proof"], list) and len(both["proof"]) == 2
    resolver = DidResolver(
        {ISSUER_DID: did_web_document(ISSUER_DID, [first.public_key_multibase, second.public_key_multibase])}
    )
    assert verify_proof(both, resolver=resolver).verified
    only_first = DidResolver({ISSUER_DID: did_web_document(ISSUER_DID, [first.public_key_multibase])})
    assert [e.rule for e in verify_proof(both, resolver=only_first).errors] == ["did-resolution"]
