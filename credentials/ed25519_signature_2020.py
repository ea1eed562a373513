"""Ed25519Signature2020 (W3C CCG Data Integrity EdDSA 2020), verified so credentials from older issuers check here.

The suite predates eddsa-rdfc-2022 and signs the same bytes, SHA-256(RDFC proof options) || SHA-256(RDFC
document), with Ed25519, the signature in `proofValue` as multibase base58btc; its proof options carry no
`cryptosuite`, and its terms come from https://w3id.org/security/suites/ed25519-2020/v1 (bundled, pinned).
We verify it and create it only for tests and interop checks; we issue with eddsa-rdfc-2022.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credentials.data_integrity import RDFC, VerificationResult, check_proof_options, check_signature, hash_data
from credentials.dids import DidResolver
from credentials.keys import private_key_from_multibase
from credentials.multibase import b58encode
from credentials.rdfc import DEFAULT_LIMITS, Limits
from credentials.vc11 import linked_data_proof_options

SIGNATURE_2020 = "Ed25519Signature2020"
ED25519_2020_CONTEXT = "https://w3id.org/security/suites/ed25519-2020/v1"


def add_ed25519_signature_2020(
    document: Mapping[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    key = private_key_from_multibase(private_key_multibase)
    proof = linked_data_proof_options(document, SIGNATURE_2020, verification_method, created, proof_purpose)
    config = {**proof, "@context": document["@context"]} if "@context" in document else proof
    signature = key.sign(hash_data(document, config, RDFC, limits))
    return {**document, "proof": {**proof, "proofValue": "z" + b58encode(signature)}}


def verify_ed25519_signature_2020(
    document: Mapping[str, Any],
    *,
    resolver: DidResolver | None = None,
    expected_proof_purpose: str = "assertionMethod",
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerificationResult:
    """Every proof must be an Ed25519Signature2020 for the expected purpose whose signature verifies."""
    result = VerificationResult()
    resolver = resolver or DidResolver()
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw]
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    for proof in proofs:
        if not isinstance(proof, Mapping) or proof.get("type") != SIGNATURE_2020:
            result.fail("proof-type", f"every proof must be an {SIGNATURE_2020}")
            continue
        if not check_proof_options(proof, result, expected_proof_purpose, now):
            continue
        check_signature(unsecured, proof, result, resolver, expected_proof_purpose, RDFC, limits, SIGNATURE_2020)
    return result
