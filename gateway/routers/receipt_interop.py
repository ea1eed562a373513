"""A consent receipt re-issued through didkit for VC 1.1 wallets: Ed25519Signature2018 LD proof or JWT-VC.

didkit 0.3 knows neither VC 2.0 nor Data Integrity, and resolves no did:web offline, so the copy is a VC 1.1
credential signed by didkit with the issuer's current key named as a did:key (the same Ed25519 key the
did:web document lists). VC 1.1 has no status list didkit understands, so the copy is only handed out for a
receipt that verifies now (not revoked); the VC 2.0 receipt remains the one whose revocation is visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from credentials import ConsentReceiptClaims, CredentialError, IssuerKey, didkit_issue, receipt_v11
from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import CredentialsDep, require_customer
from gateway.routers.credentials import VERIFY_MAX_BYTES
from gateway.web.credential_problems import credential_problem, rule_problem, verification_problem
from gateway.web.json_body import body_schema, read_model
from gateway.web.problems import problem_responses

router = APIRouter(prefix="/v1/me", tags=["customer"])


class InteropRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verifiableCredential: dict[str, Any] = Field(description="One of my VC 2.0 consent receipts.")
    format: Literal["ldp", "jwt"] = Field(
        "ldp", description="`ldp`: VC 1.1 with an Ed25519Signature2018 proof; `jwt`: a JWT-VC (EdDSA)."
    )


class InteropCredential(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "format": "jwt",
                    "credential": "eyJhbGciOiJFZERTQSIsImtpZCI6ImRpZDprZXk6ejZNay4uLiJ9.eyJ2YyI6ey4uLn19.c2ln",
                }
            ]
        }
    )
    format: Literal["ldp", "jwt"]
    credential: dict[str, Any] | str = Field(description="The VC 1.1 document (ldp) or the compact JWT (jwt).")


def _claims(receipt: Mapping[str, Any]) -> ConsentReceiptClaims:
    subject = receipt["credentialSubject"]
    consent = subject["consent"]
    return ConsentReceiptClaims(
        record_id=consent["recordId"],
        subject_did=subject["id"],
        controller=consent["dataController"],
        purposes=consent["purposes"],
        data_categories=consent["dataCategories"],
        recipients=consent["recipients"],
        jurisdiction=consent["jurisdiction"],
        legal_basis=consent["legalBasis"],
        notice_version=consent["noticeVersion"],
        notice_hash=consent["noticeHash"],
        given_at=consent["consentGivenAt"],
        ledger_index=consent["ledgerIndex"],
        valid_until=consent.get("consentValidUntil"),
        status=consent["consentStatus"],
    )


@router.post(
    "/receipts/vc11",
    summary="My receipt as a VC 1.1 credential issued by didkit",
    description="For wallets that predate VC 2.0: the receipt must verify now (proof, our key, validity, not "
    "revoked) and be about my bound DID; didkit then issues the same consent record as VC 1.1 with an "
    "Ed25519Signature2018 proof or as a JWT-VC, signed by the issuer's current key as a did:key.",
    response_model=InteropCredential,
    responses=problem_responses(400, 401, 413, 422),
    openapi_extra=body_schema(InteropRequest),
)
async def receipt_as_vc11(
    request: Request, credentials: CredentialsDep, customer: CustomerPrincipal = Depends(require_customer)
) -> InteropCredential:
    body = await read_model(request, InteropRequest, VERIFY_MAX_BYTES)
    receipt = body.verifiableCredential
    result = await run_in_threadpool(credentials.verify_credential, receipt)
    if not result.verified:
        raise verification_problem(result)
    if "ConsentReceiptCredential" not in receipt.get("type", []):
        raise rule_problem("receipt-type", "only consent receipts are offered as VC 1.1")
    subject = receipt.get("credentialSubject")
    if customer.did is None or not isinstance(subject, Mapping) or subject.get("id") != customer.did:
        raise rule_problem("subject", "this receipt is not about your bound DID")
    key = IssuerKey.did_key(credentials.keyring.current.private_key_multibase)
    try:
        claims = _claims(receipt)
        legacy = receipt_v11(claims, issuer=key.did, credential_id=str(receipt["id"]), issuance_date=claims.given_at)
        issued = await didkit_issue(
            legacy,
            private_key_multibase=key.private_key_multibase,
            verification_method=key.verification_method,
            proof_format=body.format,
        )
    except (KeyError, TypeError) as exc:
        raise rule_problem("receipt-claims", f"the receipt lacks the consent member {exc}") from None
    except CredentialError as exc:
        raise credential_problem(exc) from None
    return InteropCredential(format=body.format, credential=issued)
