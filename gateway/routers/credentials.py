"""The W3C VC API over our issuer: issue, verify, update status, publish status lists and our DID.

Shapes follow the VC API (`/credentials/issue`, `/credentials/verify`, `/presentations/verify`,
`/credentials/status`): issuing and status changes are for administrators, verifying is public. A credential
that fails any check (data model, proof, issuer key, validity period, status) is a 422 problem whose type
names the rule; verification bodies have their own small size cap, and canonicalization its work caps.
Issuance and revocation are ledger events, and the status-list entry is allocated or flipped inside the
same transaction as the event.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from credentials import CredentialError, StatusListError
from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import CredentialsDep, LedgerDep, SettingsDep, require_admin
from gateway.web.credential_problems import credential_problem, rule_problem, verification_problem
from gateway.web.json_body import body_schema, read_model
from gateway.web.problems import Problem, problem_responses
from ledger import Event

router = APIRouter(tags=["credentials"])

# Public verification input: a receipt is ~3 KB, a presentation of a few of them well under this.
VERIFY_MAX_BYTES = 64 * 1024
ISSUE_MAX_BYTES = 64 * 1024
STATUS_LIST_PATH = "/v1/status-lists"

_EXAMPLE_DID = "did:web:gateway.example.com"
_EXAMPLE_KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
_EXAMPLE_PROOF: dict[str, Any] = {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-rdfc-2022",
    "created": "2026-01-01T08:00:00Z",
    "verificationMethod": f"{_EXAMPLE_DID}#{_EXAMPLE_KEY}",
    "proofPurpose": "assertionMethod",
    "proofValue": "z2YwC8z3ap7yx1nZYCg4L3j3ApHsF8kgPdSb5xoS1VR7vPG3F561B52hYnQF9iseabecm3ijx4K1FBTQsCZahKZme",
}
_STATUS_ENTRY: dict[str, Any] = {
    "id": "https://gateway.example.com/v1/status-lists/1#94567",
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "94567",
    "statusListCredential": "https://gateway.example.com/v1/status-lists/1",
}
_STATUS_LIST_EXAMPLE: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": "https://gateway.example.com/v1/status-lists/1",
    "type": ["VerifiableCredential", "BitstringStatusListCredential"],
    "issuer": _EXAMPLE_DID,
    "validFrom": "2026-01-01T08:00:00Z",
    "credentialSubject": {
        "id": "https://gateway.example.com/v1/status-lists/1#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
    },
    "proof": _EXAMPLE_PROOF,
}
_DID_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    "id": _EXAMPLE_DID,
    "verificationMethod": [
        {
            "id": f"{_EXAMPLE_DID}#{_EXAMPLE_KEY}",
            "type": "Multikey",
            "controller": _EXAMPLE_DID,
            "publicKeyMultibase": _EXAMPLE_KEY,
        }
    ],
    "assertionMethod": [f"{_EXAMPLE_DID}#{_EXAMPLE_KEY}"],
    "authentication": [f"{_EXAMPLE_DID}#{_EXAMPLE_KEY}"],
    "capabilityInvocation": [f"{_EXAMPLE_DID}#{_EXAMPLE_KEY}"],
}


class VcJSONResponse(JSONResponse):
    media_type = "application/vc+ld+json"


class DidJSONResponse(JSONResponse):
    media_type = "application/did+json"


_CREDENTIAL_EXAMPLE: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2", "https://consentry.dev/ns/consent/v1"],
    "type": ["VerifiableCredential", "ConsentReceiptCredential"],
    "credentialSubject": {"id": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
}


class IssueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cryptosuite: Literal["eddsa-rdfc-2022", "eddsa-jcs-2022"] = Field(
        default="eddsa-rdfc-2022",
        description="eddsa-rdfc-2022 (RDF canonicalization) or eddsa-jcs-2022 (RFC 8785 JSON).",
    )


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"credential": _CREDENTIAL_EXAMPLE}]})
    credential: dict[str, Any] = Field(
        description="An unsigned VC 2.0 credential using bundled contexts only. `issuer`, `id` and `validFrom` "
        "default to our did:web, a fresh urn:uuid and now; the revocation entry is always ours."
    )
    options: IssueOptions = Field(default_factory=lambda: IssueOptions())


class IssuedCredential(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verifiableCredential": {
                        **_CREDENTIAL_EXAMPLE,
                        "id": "urn:uuid:0193a5c2-7d1e-7000-8000-000000000001",
                        "issuer": _EXAMPLE_DID,
                        "validFrom": "2026-01-01T08:00:00Z",
                        "credentialStatus": _STATUS_ENTRY,
                        "proof": _EXAMPLE_PROOF,
                    },
                    "ledger_index": 42,
                }
            ]
        }
    )
    verifiableCredential: dict[str, Any]
    ledger_index: int = Field(description="The ledger entry recording the issuance.")


class VerifyCredentialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verifiableCredential: dict[str, Any]
    options: dict[str, Any] = Field(
        default_factory=dict, description="Accepted for VC API compatibility; every check always runs."
    )


class PresentationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenge: str = Field(min_length=1, max_length=512, description="The challenge the verifier gave the holder.")
    domain: str | None = Field(
        None, max_length=512, description="The verifier the presentation was made for; default: this gateway."
    )


class VerifyPresentationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verifiablePresentation: dict[str, Any]
    options: PresentationOptions


class VerificationReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verified": True,
                    "checks": ["data-model", "proof", "issuer-key", "validity-period", "status-revocation"],
                    "warnings": [],
                }
            ]
        }
    )
    verified: Literal[True] = Field(description="Always true: a failed verification is a 422 problem.")
    checks: list[str]
    warnings: list[str]


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verifiableCredential: dict[str, Any] = Field(description="The credential we issued.")
    status: Literal["revoked"] = Field(description="Revocation is final: a revoked bit is never cleared.")


class StatusChanged(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credentialId": "urn:uuid:0193a5c2-7d1e-7000-8000-000000000001",
                    "statusListCredential": _STATUS_ENTRY["statusListCredential"],
                    "statusListIndex": _STATUS_ENTRY["statusListIndex"],
                    "status": "revoked",
                    "ledger_index": 43,
                }
            ]
        }
    )
    credentialId: str | None
    statusListCredential: str
    statusListIndex: str
    status: Literal["revoked"]
    ledger_index: int


_CAPPED = problem_responses(400, 413, 422)


@router.post(
    "/credentials/issue",
    status_code=201,
    summary="Issue a credential (VC API)",
    description="Signs a VC 2.0 credential as the gateway's did:web with eddsa-rdfc-2022 (default) or "
    "eddsa-jcs-2022, adding a revocation entry from our Bitstring Status Lists. The credential must pass the "
    "VC 2.0 data-model rules and use only bundled contexts; every term must expand.",
    response_model=IssuedCredential,
    responses=problem_responses(400, 401, 403, 413, 422),
    openapi_extra=body_schema(IssueRequest),
)
async def issue_credential(
    credentials: CredentialsDep,
    ledger: LedgerDep,
    request: Request,
    principal: ClientPrincipal = Depends(require_admin),
) -> IssuedCredential:
    body = await read_model(request, IssueRequest, ISSUE_MAX_BYTES)
    credential = {**body.credential, "id": body.credential.get("id", f"urn:uuid:{uuid.uuid4()}")}
    issued: list[dict[str, Any]] = []

    def effects(conn: Connection, index: int) -> None:
        issued.append(credentials.issue(credential, cryptosuite=body.options.cryptosuite, conn=conn))

    event = Event(type="credential.issued", actor=principal.actor, payload={"credential_id": str(credential["id"])})
    try:
        index = await ledger.append_async(event, effects=effects)
    except CredentialError as exc:
        raise credential_problem(exc) from None
    return IssuedCredential(verifiableCredential=issued[0], ledger_index=index)


@router.post(
    "/credentials/verify",
    summary="Verify a credential (VC API)",
    description="Checks the data model, the Data Integrity proof, that the key belongs to the issuer (our did:web "
    "with every key it ever had, or a did:key), the validity period and the revocation status. 200 only when "
    "every check passed; otherwise a 422 problem whose type ends in the failed rule (e.g. `signature`, "
    "`expired`, `status-revoked`). Bodies over 64 KiB are refused (413).",
    response_model=VerificationReport,
    responses=_CAPPED,
    openapi_extra=body_schema(VerifyCredentialRequest),
)
async def verify_credential(credentials: CredentialsDep, request: Request) -> VerificationReport:
    body = await read_model(request, VerifyCredentialRequest, VERIFY_MAX_BYTES)
    result = await run_in_threadpool(credentials.verify_credential, body.verifiableCredential)
    if not result.verified:
        raise verification_problem(result)
    return VerificationReport(verified=True, checks=result.checks, warnings=result.warnings)


@router.post(
    "/presentations/verify",
    summary="Verify a presentation (VC API)",
    description="Checks the holder's proof (purpose `authentication`, the given challenge, and the domain — this "
    "gateway's unless given), that the holder controls the key, and then every enclosed credential as "
    "`/credentials/verify` does.",
    response_model=VerificationReport,
    responses=_CAPPED,
    openapi_extra=body_schema(VerifyPresentationRequest),
)
async def verify_presentation(credentials: CredentialsDep, request: Request) -> VerificationReport:
    body = await read_model(request, VerifyPresentationRequest, VERIFY_MAX_BYTES)
    result = await run_in_threadpool(
        lambda: credentials.verify_presentation(
            body.verifiablePresentation, challenge=body.options.challenge, domain=body.options.domain
        )
    )
    if not result.verified:
        raise verification_problem(result)
    return VerificationReport(verified=True, checks=result.checks, warnings=result.warnings)


@router.post(
    "/credentials/status",
    summary="Revoke a credential (VC API status update)",
    description="Sets the revocation bit of a credential this gateway issued, in the same transaction as the "
    "ledger entry that records it. The credential's proof must verify against our keys; revoking twice is "
    "harmless. Consent receipts are revoked automatically when their consent is withdrawn.",
    response_model=StatusChanged,
    responses=problem_responses(400, 401, 403, 413, 422),
    openapi_extra=body_schema(StatusUpdate),
)
async def update_status(
    credentials: CredentialsDep,
    ledger: LedgerDep,
    request: Request,
    principal: ClientPrincipal = Depends(require_admin),
) -> StatusChanged:
    body = await read_model(request, StatusUpdate, ISSUE_MAX_BYTES)
    credential = body.verifiableCredential
    result = await run_in_threadpool(credentials.verify_credential, credential)
    # Only our own, genuinely signed credential may be revoked; an already revoked one is revoked again.
    blocking = [e for e in result.errors if e.rule not in ("status-revoked", "expired")]
    if blocking or "issuer-key" not in result.checks:
        raise verification_problem(result)
    if credential.get("issuer") != credentials.keyring.current.did:
        raise rule_problem("issuer", "only credentials issued by this gateway can change status here")
    entry = credential.get("credentialStatus")
    if not isinstance(entry, dict):
        raise rule_problem("status-list", "the credential has no revocation status entry")

    def effects(conn: Connection, index: int) -> None:
        credentials.revoke(credential, conn=conn)

    event = Event(
        type="credential.revoked",
        actor=principal.actor,
        payload={
            "credential_id": str(credential.get("id")),
            "status_list": str(entry.get("statusListCredential")),
            "status_index": str(entry.get("statusListIndex")),
        },
    )
    try:
        index = await ledger.append_async(event, effects=effects)
    except CredentialError as exc:
        raise credential_problem(exc) from None
    return StatusChanged(
        credentialId=credential.get("id"),
        statusListCredential=str(entry.get("statusListCredential")),
        statusListIndex=str(entry.get("statusListIndex")),
        status="revoked",
        ledger_index=index,
    )


@router.get(
    STATUS_LIST_PATH + "/{number}",
    summary="A status list credential",
    description="The signed BitstringStatusListCredential that credentials' `credentialStatus` entries point to. "
    "It is signed on every request, so a revocation is visible at once; do not cache it for long.",
    response_class=VcJSONResponse,
    responses={
        200: {
            "description": "The signed status list.",
            "content": {"application/vc+ld+json": {"example": _STATUS_LIST_EXAMPLE}},
        },
        **problem_responses(404),
    },
)
def status_list(
    credentials: CredentialsDep, settings: SettingsDep, number: int = Path(ge=1, description="The list's number.")
) -> JSONResponse:
    url = f"{settings.issuer}{STATUS_LIST_PATH}/{number}"
    try:
        document = credentials.status_list_credential(url)
    except StatusListError:
        raise Problem(404, "not-found", "No such status list.") from None
    return VcJSONResponse(document, headers={"Cache-Control": "no-cache"})


@router.get(
    "/.well-known/did.json",
    tags=["discovery"],
    summary="The issuer's DID document (did:web)",
    description="Every Ed25519 key (Multikey) the issuer ever signed with, so credentials issued before a key "
    "rotation keep verifying; only the newest key is listed for `authentication`.",
    response_class=DidJSONResponse,
    responses={
        200: {
            "description": "The DID document.",
            "content": {"application/did+json": {"example": _DID_DOCUMENT_EXAMPLE}},
        }
    },
)
def did_document(credentials: CredentialsDep) -> DidJSONResponse:
    return DidJSONResponse(credentials.did_document())
