"""The W3C VC API over our issuer: issue, verify, update status, publish status lists and our DID.

Shapes follow the VC API (`/credentials/issue`, `/credentials/verify`, `/presentations/verify`,
`/credentials/status`): issuing and status changes are for administrators, verifying is public. A credential
that fails any check (data model, proof, issuer key, validity period, status) is a 422 problem whose type
names the rule; verification bodies have their own small size cap, and canonicalization its work caps.
Issuance and revocation are ledger events, and the status-list entry is allocated or flipped inside the
same transaction as the event.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from credentials import CredentialError, CredentialService, LimitExceededError, StatusListError, VerificationResult
from credentials.status_store import IssuedEntry
from gateway.auth.did_challenges import DidChallengeStore
from gateway.auth.principals import ClientPrincipal
from gateway.auth.rate_limits import enforce, request_address_key
from gateway.dependencies import CredentialsDep, EngineDep, LedgerDep, LimitsDep, SettingsDep, require_admin
from gateway.web.credential_problems import credential_problem, problem_details, rule_problem, verification_problem
from gateway.web.json_body import body_schema, read_capped, read_model
from gateway.web.problems import Problem, problem_responses
from ledger import Event
from ledger.store import Ledger

router = APIRouter(tags=["credentials"])
Model = TypeVar("Model", bound=BaseModel)

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
    "alsoKnownAs": [f"did:key:{_EXAMPLE_KEY}"],
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
    credentialId: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="VC API: names a credential that has no `id`, so its status can be changed later by "
        "this id. If the credential has an `id`, it must be the same.",
    )


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"credential": _CREDENTIAL_EXAMPLE}]})
    credential: dict[str, Any] = Field(
        description="An unsigned VC 2.0 credential using bundled contexts only. `issuer` is our did:web (the "
        "default) or the current key's did:key (listed in our DID document's `alsoKnownAs`); `id` and "
        "`validFrom` default to a fresh urn:uuid and now. `credentialStatus` may ask for our entries by purpose "
        '(`{"type": "BitstringStatusListEntry", "statusPurpose": "revocation"|"suspension"}`, one or a list) '
        "or give complete entries of status lists the caller keeps; without it we add our revocation entry."
    )
    options: IssueOptions = Field(default_factory=lambda: IssueOptions(credentialId=None))


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
    verifiableCredential: dict[str, Any] = Field(
        description="A VC 2.0 credential (Data Integrity eddsa-rdfc-2022 or eddsa-jcs-2022, proof sets and "
        "previousProof chains), or a VC 1.1 one (Ed25519Signature2020, Ed25519Signature2018 or Data Integrity)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Accepted for VC API compatibility; every check always runs."
    )


class PresentationOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    challenge: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="The challenge the holder signed. One from `POST /challenges` is accepted once; without a "
        "`domain`, only such a challenge is accepted. Without a challenge the presentation need not be signed.",
    )
    domain: str | None = Field(
        None, max_length=512, description="The verifier the presentation was made for; default: this gateway."
    )


class VerifyPresentationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verifiablePresentation: dict[str, Any] | None = Field(None, description="A VC 2.0 presentation.")
    presentation: dict[str, Any] | None = Field(
        None, description="VC API ProoflessVerifyPresentationRequest: a presentation without a proof."
    )
    options: PresentationOptions = Field(default_factory=lambda: PresentationOptions(challenge=None, domain=None))


class ProblemEntry(BaseModel):
    type: str = Field(description="`https://consentry.dev/problems/credentials/<rule>`.")
    title: str
    detail: str
    rule: str = Field(description="The rule that failed, e.g. `signature`, `expired`, `status-revoked`.")


class VerificationReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verified": True,
                    "checks": ["data-model", "proof", "issuer-key", "validity-period", "status-revocation"],
                    "warnings": [],
                    "problemDetails": [],
                },
                {
                    "verified": False,
                    "checks": ["data-model", "proof-purpose", "verification-method"],
                    "warnings": [],
                    "problemDetails": [
                        {
                            "type": "https://consentry.dev/problems/credentials/signature",
                            "title": "Credential check failed",
                            "detail": "Ed25519 signature by did:web:gateway.example.com#z6Mk… does not verify",
                            "rule": "signature",
                        }
                    ],
                },
            ]
        }
    )
    verified: bool = Field(description="True only when every check passed and none failed.")
    checks: list[str] = Field(description="The checks that passed.")
    warnings: list[str]
    problemDetails: list[ProblemEntry] = Field(description="RFC 9457 entries, one per failed rule.")


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["BitstringStatusListEntry"] = Field(
        description="The kind of entry to change. The VC API example's `BitstringStatusList` is accepted too."
    )
    statusPurpose: Literal["revocation", "suspension"]

    @field_validator("type", mode="before")
    @classmethod
    def _entry_type(cls, value: Any) -> Any:
        return "BitstringStatusListEntry" if value == "BitstringStatusList" else value


class StatusUpdate(BaseModel):
    """The VC API body (`UpdateCredentialStatusRequest`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "credentialId": "urn:uuid:0193a5c2-7d1e-7000-8000-000000000001",
                    "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
                    "status": True,
                }
            ]
        },
    )
    credentialId: str = Field(min_length=1, max_length=500, description="`id` or `options.credentialId` at issue.")
    credentialStatus: StatusRequest
    status: bool = Field(description="Set (true) or clear (false) the bit. A revocation cannot be cleared.")


class LegacyStatusUpdate(BaseModel):
    """The body this gateway took before it recorded issued credentials; still the only way to revoke one
    issued before that (its status entries are read from the credential itself)."""

    model_config = ConfigDict(extra="forbid")
    verifiableCredential: dict[str, Any] = Field(description="The credential we issued.")
    status: Literal["revoked"] = Field(description="Revocation is final: a revoked bit is never cleared.")


class StatusChanged(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credentialId": "urn:uuid:0193a5c2-7d1e-7000-8000-000000000001",
                    "statusPurpose": "revocation",
                    "statusListCredential": _STATUS_ENTRY["statusListCredential"],
                    "statusListIndex": _STATUS_ENTRY["statusListIndex"],
                    "status": True,
                    "ledger_index": 43,
                }
            ]
        }
    )
    credentialId: str | None
    statusPurpose: str
    statusListCredential: str
    statusListIndex: str
    status: bool
    ledger_index: int


class Challenge(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"challenge": "kP4-7tqQ1yXz…", "domain": "gateway.example.com"}]}
    )
    challenge: str = Field(
        description="Sign it into the presentation's proof; `/presentations/verify` accepts it once."
    )
    domain: str = Field(description="This verifier, for the proof's `domain`.")
    expires_at: str


_CAPPED = problem_responses(400, 413)
_CHALLENGE_TTL = timedelta(minutes=5)


def _report(result: VerificationResult) -> VerificationReport:
    if not result.verified and result.errors and result.errors[0].rule == LimitExceededError.rule:
        raise verification_problem(result)
    return VerificationReport(
        verified=result.verified,
        checks=result.checks,
        warnings=result.warnings,
        problemDetails=[ProblemEntry(**entry) for entry in problem_details(result)],
    )


@router.post(
    "/credentials/issue",
    status_code=201,
    summary="Issue a credential (VC API)",
    description="Signs a VC 2.0 credential as the gateway's did:web, or as the current key's did:key when "
    "`credential.issuer` names it, with eddsa-rdfc-2022 (default) or eddsa-jcs-2022. Status entries in our "
    "Bitstring Status Lists are allocated here (revocation by default; ask for `suspension` too); complete "
    "entries of lists the caller keeps are validated and kept. The credential must pass the VC 2.0 data-model "
    "rules (including `credentialSchema` ids and `relatedResource` digests) and use only bundled contexts; "
    "every term must expand. A malformed request is 400, a broken rule a 422 naming it.",
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
    body = await read_model(request, IssueRequest, ISSUE_MAX_BYTES, invalid_status=400)
    credential = dict(body.credential)
    if body.options.credentialId is None and "id" not in credential:
        credential["id"] = f"urn:uuid:{uuid.uuid4()}"
    issued: list[dict[str, Any]] = []

    def effects(conn: Connection, index: int) -> None:
        issued.append(
            credentials.issue(
                credential,
                cryptosuite=body.options.cryptosuite,
                credential_id=body.options.credentialId,
                conn=conn,
            )
        )

    credential_id = str(body.options.credentialId or credential["id"])
    event = Event(type="credential.issued", actor=principal.actor, payload={"credential_id": credential_id})
    try:
        index = await ledger.append_async(event, effects=effects)
    except CredentialError as exc:
        raise credential_problem(exc) from None
    return IssuedCredential(verifiableCredential=issued[0], ledger_index=index)


@router.post(
    "/credentials/verify",
    summary="Verify a credential (VC API)",
    description="Checks the data model (VC 2.0, or VC 1.1 by its first context), every proof (Data Integrity proof "
    "sets and previousProof chains, Ed25519Signature2020, Ed25519Signature2018), that the keys belong to the "
    "issuer (our did:web with every key it ever had, or a did:key), the validity period and the status. Always "
    "200 once verification ran: `verified` is true only when every check passed, and `problemDetails` holds an "
    "RFC 9457 entry per failed rule (e.g. `signature`, `expired`, `status-revoked`). A malformed request is 400; "
    "bodies over 64 KiB, and input over the canonicalization limits, 413.",
    response_model=VerificationReport,
    responses=_CAPPED,
    openapi_extra=body_schema(VerifyCredentialRequest),
)
async def verify_credential(credentials: CredentialsDep, request: Request) -> VerificationReport:
    body = await read_model(request, VerifyCredentialRequest, VERIFY_MAX_BYTES, invalid_status=400)
    result = await run_in_threadpool(credentials.verify_credential, body.verifiableCredential)
    return _report(result)


@router.post(
    "/challenges",
    summary="A challenge for a presentation (VC API)",
    description="A fresh single-use challenge (256 random bits) for a holder to sign into a presentation's "
    "proof with this gateway as `domain`; `/presentations/verify` accepts it once, within five minutes. "
    "Rate-limited per address like DID-login challenges (429 with Retry-After).",
    response_model=Challenge,
    responses=problem_responses(429),
)
def create_challenge(
    request: Request, engine: EngineDep, credentials: CredentialsDep, limits: LimitsDep, settings: SettingsDep
) -> Challenge:
    enforce((limits.did_challenge_per_address, request_address_key(request, settings.trusted_proxies)))
    challenge, expires = DidChallengeStore(engine, _CHALLENGE_TTL).issue("presentation")
    return Challenge(challenge=challenge, domain=credentials.domain, expires_at=expires.isoformat())


@router.post(
    "/presentations/verify",
    summary="Verify a presentation (VC API)",
    description="With `options.challenge`: checks the holder's proof (purpose `authentication`, the challenge, "
    "and the domain, this gateway's unless given) and that the holder controls the key. A challenge for this "
    "gateway must come from `POST /challenges` and is used up once verified. Without a challenge a presentation "
    "without a proof is accepted (also as the VC API's `presentation` member): a warning `presentation-unsigned` "
    "says that its holder is not proven. Then every enclosed credential is checked as `/credentials/verify` "
    "does. Always 200 once verification ran, with `verified` and `problemDetails`; a malformed request is 400.",
    response_model=VerificationReport,
    responses=_CAPPED,
    openapi_extra=body_schema(VerifyPresentationRequest),
)
async def verify_presentation(credentials: CredentialsDep, engine: EngineDep, request: Request) -> VerificationReport:
    body = await read_model(request, VerifyPresentationRequest, VERIFY_MAX_BYTES, invalid_status=400)
    given = [p for p in (body.verifiablePresentation, body.presentation) if p is not None]
    if len(given) != 1:
        raise Problem(400, "validation", "Give exactly one of verifiablePresentation and presentation.")
    challenge, domain = body.options.challenge, body.options.domain
    result = await run_in_threadpool(
        lambda: credentials.verify_presentation(given[0], challenge=challenge, domain=domain)
    )
    # A challenge for this gateway must be one it issued, used once; another verifier keeps its own.
    if challenge is not None and domain in (None, credentials.domain) and result.verified:
        live = await run_in_threadpool(DidChallengeStore(engine, _CHALLENGE_TTL).consume, challenge, "presentation")
        if not live:
            result.fail("challenge-unknown", "the challenge was not issued by POST /challenges, expired, or was used")
    return _report(result)


@router.post(
    "/credentials/status",
    summary="Change a credential's status (VC API)",
    description="Sets (`status: true`) or clears the revocation or suspension bit of a credential this gateway "
    "issued, found by its `credentialId` (its `id`, or `options.credentialId` at issue), in the same transaction "
    "as the ledger entry that records it. A revocation is final; setting a bit twice is harmless. Consent "
    "receipts are revoked automatically when their consent is withdrawn. A credential issued before issued "
    "credentials were recorded is revoked by posting it instead: "
    '`{"verifiableCredential": {…}, "status": "revoked"}` (its proof must verify against our keys).',
    response_model=StatusChanged,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            body_schema(StatusUpdate)["requestBody"]["content"]["application/json"]["schema"],
                            body_schema(LegacyStatusUpdate)["requestBody"]["content"]["application/json"]["schema"],
                        ]
                    }
                }
            },
        }
    },
)
async def update_status(
    credentials: CredentialsDep,
    ledger: LedgerDep,
    request: Request,
    principal: ClientPrincipal = Depends(require_admin),
) -> StatusChanged:
    raw = await read_capped(request, ISSUE_MAX_BYTES)
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Problem(400, "bad-request", f"The request body is not JSON: {type(exc).__name__}.") from None
    if isinstance(data, dict) and "verifiableCredential" in data:
        return await _revoke_posted_credential(_parse(data, LegacyStatusUpdate), principal, credentials, ledger)
    body = _parse(data, StatusUpdate)
    purpose = body.credentialStatus.statusPurpose
    changed: list[IssuedEntry] = []

    def effects(conn: Connection, index: int) -> None:
        changed.extend(credentials.update_status(body.credentialId, purpose, body.status, conn=conn))

    kind = "credential.revoked" if purpose == "revocation" else "credential.status"
    payload = {"credential_id": body.credentialId, "status_purpose": purpose, "status": body.status}
    try:
        index = await ledger.append_async(Event(type=kind, actor=principal.actor, payload=payload), effects=effects)
    except StatusListError as exc:
        raise rule_problem("status-list", str(exc), status=404 if "issued no credential" in str(exc) else 422) from None
    except CredentialError as exc:
        raise credential_problem(exc) from None
    return StatusChanged(
        credentialId=body.credentialId,
        statusPurpose=purpose,
        statusListCredential=changed[0].list_url,
        statusListIndex=str(changed[0].index),
        status=body.status,
        ledger_index=index,
    )


def _parse(data: Any, model: type[Model]) -> Model:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        raise Problem(400, "validation", "The request does not match the schema.", errors=errors) from None


async def _revoke_posted_credential(
    body: LegacyStatusUpdate, principal: ClientPrincipal, credentials: CredentialService, ledger: Ledger
) -> StatusChanged:
    credential = body.verifiableCredential
    result = await run_in_threadpool(credentials.verify_credential, credential)
    # Only our own, genuinely signed credential may be revoked; an already revoked one is revoked again.
    blocking = [e for e in result.errors if e.rule not in ("status-revoked", "expired")]
    if blocking or "issuer-key" not in result.checks:
        raise verification_problem(result)
    try:
        credentials.issuer_key(credential.get("issuer"))
    except CredentialError:
        raise rule_problem("issuer", "only credentials issued by this gateway can change status here") from None
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
        statusPurpose="revocation",
        statusListCredential=str(entry.get("statusListCredential")),
        statusListIndex=str(entry.get("statusListIndex")),
        status=True,
        ledger_index=index,
    )


_STATUS_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The signed status list.",
        "content": {"application/vc+ld+json": {"example": _STATUS_LIST_EXAMPLE}},
    },
    **problem_responses(404),
}
# The lists of one issuer identity and purpose (see CredentialService): suspension, a did:key's, or both.
_FAMILY = re.compile(r"^(suspension|did-key/z[1-9A-HJ-NP-Za-km-z]{40,60}(/suspension)?)$")


def _serve_list(credentials: CredentialService, url: str) -> JSONResponse:
    try:
        document = credentials.status_list_credential(url)
    except StatusListError:
        raise Problem(404, "not-found", "No such status list.") from None
    return VcJSONResponse(document, headers={"Cache-Control": "no-cache"})


@router.get(
    STATUS_LIST_PATH + "/{number}",
    summary="A status list credential",
    description="The signed BitstringStatusListCredential that credentials' `credentialStatus` entries point to "
    "(revocation lists of our did:web). It is signed on every request, so a change is visible at once; do not "
    "cache it for long. Its URL has the scheme and host of the gateway's public URL (`CONSENTRY_ISSUER`).",
    response_class=VcJSONResponse,
    responses=_STATUS_LIST_RESPONSES,
)
def status_list(
    credentials: CredentialsDep, settings: SettingsDep, number: int = Path(ge=1, description="The list's number.")
) -> JSONResponse:
    return _serve_list(credentials, f"{settings.issuer}{STATUS_LIST_PATH}/{number}")


@router.get(
    STATUS_LIST_PATH + "/{family:path}/{number}",
    summary="A status list credential of another purpose or issuer identity",
    description="Suspension lists (`suspension/N`) and the lists of a did:key issuer (`did-key/<key>/N`, "
    "`did-key/<key>/suspension/N`), each signed by the identity that issued the credentials pointing to it.",
    response_class=VcJSONResponse,
    responses=_STATUS_LIST_RESPONSES,
)
def family_status_list(
    credentials: CredentialsDep,
    settings: SettingsDep,
    family: str = Path(description="`suspension`, `did-key/<multibase key>` or `did-key/<key>/suspension`."),
    number: int = Path(ge=1, description="The list's number."),
) -> JSONResponse:
    if not _FAMILY.match(family):
        raise Problem(404, "not-found", "No such status list.")
    return _serve_list(credentials, f"{settings.issuer}{STATUS_LIST_PATH}/{family}/{number}")


@router.get(
    "/.well-known/did.json",
    tags=["discovery"],
    summary="The issuer's DID document (did:web)",
    description="Every Ed25519 key (Multikey) the issuer ever signed with, so credentials issued before a key "
    "rotation keep verifying; only the newest key is listed for `authentication`. `alsoKnownAs` lists each "
    "key's did:key: credentials issued with `issuer` set to the current one are signed by that did:key.",
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
