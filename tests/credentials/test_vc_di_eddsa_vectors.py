"""W3C vc-di-eddsa v1.0 test vectors (Appendix B / TestVectors/), reproduced byte for byte."""

from __future__ import annotations

import copy
import hashlib

import rfc8785

from credentials import DidResolver, add_proof, canonicalize, verify_proof
from credentials.data_integrity import hash_data
from credentials.keys import key_pair_from_private, private_key_from_multibase
from tests.credentials.cred_constants import VECTOR_PRIVATE, VECTOR_PUBLIC

ISSUER = "https://vc.example/issuers/5678"
VM_HTTPS = f"{ISSUER}#{VECTOR_PUBLIC}"
VM_DID_KEY = f"did:key:{VECTOR_PUBLIC}#{VECTOR_PUBLIC}"
CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"]
UNSECURED = {
    "@context": CONTEXT,
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": ISSUER,
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
CANONICAL_DOCUMENT = (
    '<did:example:abcdefgh> <https://www.w3.org/ns/credentials/examples#alumniOf> "The School of Examples" .\n'
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
    "<https://www.w3.org/2018/credentials#VerifiableCredential> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
    "<https://www.w3.org/ns/credentials/examples#AlumniCredential> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://schema.org/description> "
    '"A minimum viable example of an Alumni Credential." .\n'
    '<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://schema.org/name> "Alumni Credential" .\n'
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#credentialSubject> "
    "<did:example:abcdefgh> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#issuer> "
    "<https://vc.example/issuers/5678> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#validFrom> "
    '"2023-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
)
RDFC_PROOF_CANONICAL = (
    '_:c14n0 <http://purl.org/dc/terms/created> "2023-02-24T23:36:38Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
    "_:c14n0 <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/security#DataIntegrityProof> .\n"
    '_:c14n0 <https://w3id.org/security#cryptosuite> "eddsa-rdfc-2022"'
    "^^<https://w3id.org/security#cryptosuiteString> .\n"
    "_:c14n0 <https://w3id.org/security#proofPurpose> <https://w3id.org/security#assertionMethod> .\n"
    "_:c14n0 <https://w3id.org/security#verificationMethod> "
    "<https://vc.example/issuers/5678#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2> .\n"
)
RDFC_COMBINED_HASH = (
    "4c4d3890a157f8d611b13c265c2c22f39aa0a567c7c7dd9ba3e45cd579784eeb"
    "517744132ae165a5349155bef0bb0cf2258fff99dfe1dbd914b938d775a36017"
)
RDFC_PROOF_VALUE = "z21EVs3eXERqTn4acNHT9viboqgzUaQ3kTmhPT3eA8qrVPE7CrQq78WkzctnMX5W4CrzcKnHw8V6dvy5pgWYCU5e9"
JCS_CANONICAL_DOCUMENT = (
    '{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],'
    '"credentialSubject":{"alumniOf":"The School of Examples","id":"did:example:abcdefgh"},'
    '"description":"A minimum viable example of an Alumni Credential.",'
    '"id":"urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33","issuer":"https://vc.example/issuers/5678",'
    '"name":"Alumni Credential","type":["VerifiableCredential","AlumniCredential"],"validFrom":"2023-01-01T00:00:00Z"}'
)
JCS_DOC_HASH = "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
# TestVectors/eddsa-jcs-2022/proofCanonJCS.txt and combinedHashJCS.txt use the did:key method;
# signedJCS.json (the spec's example) uses the https method.
JCS_PROOF_CANONICAL_DID_KEY = (
    '{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],'
    '"created":"2023-02-24T23:36:38Z","cryptosuite":"eddsa-jcs-2022","proofPurpose":"assertionMethod",'
    '"type":"DataIntegrityProof","verificationMethod":"did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2'
    '#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"}'
)
JCS_COMBINED_HASH_DID_KEY = "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db" + JCS_DOC_HASH
JCS_PROOF_VALUE_HTTPS = "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4"
CREATED = "2023-02-24T23:36:38Z"


def _controller_resolver() -> DidResolver:
    document = {
        "id": ISSUER,
        "verificationMethod": [
            {"id": VM_HTTPS, "type": "Multikey", "controller": ISSUER, "publicKeyMultibase": VECTOR_PUBLIC}
        ],
        "assertionMethod": [VM_HTTPS],
    }
    return DidResolver({ISSUER: document})


def _proof_config(suite: str, vm: str) -> dict[str, object]:
    return {
        "type": "DataIntegrityProof",
        "cryptosuite": suite,
        "created": CREATED,
        "verificationMethod": vm,
        "proofPurpose": "assertionMethod",
        "@context": CONTEXT,
    }


def test_key_pair_vector_public_key_derives_from_private_key() -> None:
    assert key_pair_from_private(private_key_from_multibase(VECTOR_PRIVATE)).public_key_multibase == VECTOR_PUBLIC


def test_rdfc_canonical_document_matches_appendix_b1() -> None:
    assert canonicalize(UNSECURED) == CANONICAL_DOCUMENT


def test_rdfc_canonical_proof_configuration_matches() -> None:
    assert canonicalize(_proof_config("eddsa-rdfc-2022", VM_HTTPS)) == RDFC_PROOF_CANONICAL


def test_rdfc_hashes_match_combined_hash_vector() -> None:
    combined = hash_data(UNSECURED, _proof_config("eddsa-rdfc-2022", VM_HTTPS), "eddsa-rdfc-2022")
    assert combined.hex() == RDFC_COMBINED_HASH
    assert hashlib.sha256(CANONICAL_DOCUMENT.encode()).hexdigest() == RDFC_COMBINED_HASH[64:]


def test_rdfc_add_proof_reproduces_proof_value() -> None:
    secured = add_proof(
        copy.deepcopy(UNSECURED), private_key_multibase=VECTOR_PRIVATE, verification_method=VM_HTTPS, created=CREATED
    )
    assert secured["proof"] == {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": CREATED,
        "verificationMethod": VM_HTTPS,
        "proofPurpose": "assertionMethod",
        "proofValue": RDFC_PROOF_VALUE,
    }
    assert "proof" not in UNSECURED


def test_jcs_canonical_document_and_hash_match() -> None:
    assert rfc8785.dumps(UNSECURED).decode() == JCS_CANONICAL_DOCUMENT
    assert hashlib.sha256(JCS_CANONICAL_DOCUMENT.encode()).hexdigest() == JCS_DOC_HASH


def test_jcs_did_key_proof_configuration_and_combined_hash_match() -> None:
    config = _proof_config("eddsa-jcs-2022", VM_DID_KEY)
    assert rfc8785.dumps(config).decode() == JCS_PROOF_CANONICAL_DID_KEY
    assert hash_data(UNSECURED, config, "eddsa-jcs-2022").hex() == JCS_COMBINED_HASH_DID_KEY


def test_jcs_add_proof_reproduces_signed_example() -> None:
    secured = add_proof(
        UNSECURED,
        private_key_multibase=VECTOR_PRIVATE,
        verification_method=VM_HTTPS,
        cryptosuite="eddsa-jcs-2022",
        created=CREATED,
    )
    assert secured["proof"]["@context"] == CONTEXT
    assert secured["proof"]["proofValue"] == JCS_PROOF_VALUE_HTTPS


def test_both_vector_credentials_verify_and_any_change_breaks_them() -> None:
    for suite, value in (("eddsa-rdfc-2022", RDFC_PROOF_VALUE), ("eddsa-jcs-2022", JCS_PROOF_VALUE_HTTPS)):
        secured = add_proof(
            UNSECURED,
            private_key_multibase=VECTOR_PRIVATE,
            verification_method=VM_HTTPS,
            cryptosuite=suite,
            created=CREATED,
        )
        assert secured["proof"]["proofValue"] == value
        result = verify_proof(secured, resolver=_controller_resolver())
        assert result.verified, result.errors
        assert result.checks == ["proof-purpose", "verification-method", "proof"]
        tampered = copy.deepcopy(secured)
        tampered["credentialSubject"]["alumniOf"] = "Another School"
        assert [e.rule for e in verify_proof(tampered, resolver=_controller_resolver()).errors] == ["signature"]
