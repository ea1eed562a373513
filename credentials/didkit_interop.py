"""didkit (SpruceID, Rust) as an independent implementation: issue and verify VC 1.1 through it.

didkit 0.3 knows VC 1.1 only (no VC 2.0 / DataIntegrityProof), so receipts are offered to it as VC 1.1
credentials with our vocabulary inlined as a context object (it cannot load our context URL).
didkit's functions are coroutines; the `_sync` helpers run them for non-async callers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, cast

import didkit

from credentials.contexts import CONSENTRY_V1, VC_V1, load_context
from credentials.data_integrity import VerificationResult
from credentials.errors import InteropError
from credentials.keys import private_jwk
from credentials.receipts import RECEIPT_TYPE, ConsentReceiptClaims

# didkit's stub declares the exception as an instance; at run time it is the class.
_DIDKIT_ERROR = cast(type[Exception], didkit.DIDKitException)


def receipt_v11(claims: ConsentReceiptClaims, *, issuer: str, credential_id: str, issuance_date: str) -> dict[str, Any]:
    """The receipt in VC 1.1 shape; VC 1.1 has no status list context didkit knows, so no credentialStatus."""
    claims.validate()
    credential: dict[str, Any] = {
        "@context": [VC_V1, load_context(CONSENTRY_V1)["@context"]],
        "id": credential_id,
        "type": ["VerifiableCredential", RECEIPT_TYPE],
        "issuer": issuer,
        "issuanceDate": issuance_date,
        "credentialSubject": {"id": claims.subject_did, "consent": claims.consent_record()},
    }
    if claims.valid_until is not None:
        credential["expirationDate"] = claims.valid_until
    return credential


async def didkit_issue(
    credential: Mapping[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    proof_format: str = "ldp",
    proof_type: str = "Ed25519Signature2018",
) -> dict[str, Any] | str:
    """A VC 1.1 credential secured by didkit: an LD proof (dict) or a JWT-VC (str)."""
    options: dict[str, Any] = {
        "proofFormat": proof_format,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    if proof_format == "ldp":
        options["type"] = proof_type
    try:
        issued = await didkit.issue_credential(
            json.dumps(credential), json.dumps(options), json.dumps(private_jwk(private_key_multibase))
        )
    except _DIDKIT_ERROR as exc:
        raise InteropError(f"didkit refused to issue: {exc}") from None
    if proof_format == "jwt":
        return str(issued)
    result: dict[str, Any] = json.loads(issued)
    return result


async def didkit_verify(credential: Mapping[str, Any] | str, *, proof_format: str = "ldp") -> VerificationResult:
    """didkit's verdict, in our result type, so tests compare both implementations directly."""
    payload = credential if isinstance(credential, str) else json.dumps(credential)
    try:
        raw = json.loads(await didkit.verify_credential(payload, json.dumps({"proofFormat": proof_format})))
    except _DIDKIT_ERROR as exc:
        raise InteropError(f"didkit could not verify: {exc}") from None
    result = VerificationResult(
        checks=[str(c) for c in raw.get("checks", [])], warnings=[str(w) for w in raw.get("warnings", [])]
    )
    for error in raw.get("errors", []):
        result.fail("didkit", str(error))
    return result


def didkit_issue_sync(credential: Mapping[str, Any], **kwargs: Any) -> dict[str, Any] | str:
    return asyncio.run(didkit_issue(credential, **kwargs))


def didkit_verify_sync(credential: Mapping[str, Any] | str, *, proof_format: str = "ldp") -> VerificationResult:
    return asyncio.run(didkit_verify(credential, proof_format=proof_format))
