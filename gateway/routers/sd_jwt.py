"""Selective disclosure: SD-JWT VCs (RFC 9901, `dc+sd-jwt`) of a customer's checked profile attributes.

Every attribute is a separate disclosure, so the customer can show a dealer the VIN and nothing else. When
the customer has bound a did:key, the credential carries it as `cnf`, and a presentation is accepted only
with a Key Binding JWT for the verifier's audience and nonce — a copied SD-JWT is useless to a thief.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from credentials import (
    CredentialError,
    CredentialService,
    DidResolver,
    SdJwtError,
    issue_sd_jwt,
    public_jwk,
    public_key_from_multibase,
    verify_sd_jwt,
)
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.auth.profile_attributes import ProfileAttributeStore
from gateway.dependencies import (
    CredentialsDep,
    CustomersDep,
    ProfileAttributesDep,
    require_admin,
    require_customer,
)
from gateway.web.credential_problems import credential_problem, rule_problem
from gateway.web.json_body import PRESENTATION_MAX_BYTES, body_schema, read_model
from gateway.web.problems import Problem, problem_responses
from ledger.b64 import b64url_decode

router = APIRouter(tags=["selective disclosure"])

PROFILE_VCT = "https://consentry.dev/vct/customer-profile/v1"
VALIDITY_SECONDS = 365 * 24 * 3600

_ATTRIBUTES_EXAMPLE: dict[str, Any] = {
    "name": "Li Wei",
    "vin": "LSVAU2180N2183294",
    "national_id": "110101199003074514",
}


class ProfileAttributes(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ATTRIBUTES_EXAMPLE]})
    name: str | None = Field(None, min_length=1, max_length=200)
    vin: str | None = Field(
        None, pattern=r"^[A-HJ-NPR-Z0-9]{17}$", description="ISO 3779 vehicle identification number."
    )
    national_id: str | None = Field(None, min_length=1, max_length=64)


class IssuedSdJwt(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sd_jwt": "eyJhbGciOiJFZERTQSIsInR5cCI6ImRjK3NkLWp3dCJ9.eyJfc2QiOlsi...In0.c2ln~WyJzYWx0Iiwidmlu"
                    "IiwiTFNWQVUyMTgwTjIxODMyOTQiXQ~",
                    "vct": PROFILE_VCT,
                    "disclosable": ["name", "national_id", "vin"],
                    "key_bound": True,
                }
            ]
        }
    )
    sd_jwt: str = Field(description="`<issuer JWT>~<disclosure>~...~`; keep it in the wallet.")
    vct: str
    disclosable: list[str] = Field(description="Claims the holder may reveal one by one.")
    key_bound: bool = Field(description="Whether presentations need a Key Binding JWT by the customer's DID key.")


class SdJwtVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: str = Field(min_length=1, description="The holder's SD-JWT with chosen disclosures (and KB-JWT).")
    audience: str | None = Field(None, max_length=512, description="The verifier the KB-JWT must be addressed to.")
    nonce: str | None = Field(None, max_length=512, description="The verifier's nonce the KB-JWT must carry.")


class VerifiedSdJwt(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verified": True,
                    "key_bound": True,
                    "claims": {"vin": "LSVAU2180N2183294", "iss": "did:web:gateway.example.com"},
                }
            ]
        }
    )
    verified: bool = Field(description="Always true: a failed verification is a 422 problem.")
    key_bound: bool
    claims: dict[str, Any] = Field(description="The signed claims plus the disclosed ones; hidden ones are absent.")


def _holder_jwk(did: str | None) -> dict[str, str] | None:
    """The customer's did:key as a JWK for `cnf`; other DID methods cannot be resolved offline here."""
    if did is None or not did.startswith("did:key:"):
        return None
    method = DidResolver().resolve(did)["verificationMethod"][0]
    return public_jwk(public_key_from_multibase(str(method["publicKeyMultibase"])))


@router.put(
    "/v1/admin/customers/{customer_id}/attributes",
    tags=["admin"],
    status_code=204,
    summary="Record a customer's checked profile attributes",
    description="Name, VIN and national id as the operator verified them; they replace earlier ones and are "
    "what `POST /v1/me/credentials/sd-jwt` attests.",
    responses=problem_responses(401, 403, 404, 422),
)
def put_attributes(
    customers: CustomersDep,
    attributes: ProfileAttributesDep,
    body: ProfileAttributes,
    customer_id: str = Path(description="The customer's id."),
    admin: ClientPrincipal = Depends(require_admin),
) -> None:
    if customers.get(customer_id) is None:
        raise Problem(404, "not-found", "No such customer.")
    attributes.put(customer_id, body.model_dump(exclude_none=True), actor=admin.actor)


def _issue(store: ProfileAttributeStore, credentials: CredentialService, customer: CustomerPrincipal) -> IssuedSdJwt:
    attributes = store.get(customer.customer_id)
    if not attributes:
        raise Problem(409, "no-attributes", "No checked profile attributes are recorded for you yet.")
    holder = _holder_jwk(customer.did)
    key = credentials.keyring.current
    now = int(time.time())
    token = issue_sd_jwt(
        attributes,
        disclosable=attributes.keys(),
        private_key_multibase=key.private_key_multibase,
        issuer=key.did,
        kid=key.verification_method,
        vct=PROFILE_VCT,
        holder_jwk=holder,
        iat=now,
        exp=now + VALIDITY_SECONDS,
    )
    return IssuedSdJwt(sd_jwt=token, vct=PROFILE_VCT, disclosable=sorted(attributes), key_bound=holder is not None)


@router.post(
    "/v1/me/credentials/sd-jwt",
    tags=["customer"],
    status_code=201,
    summary="Get my profile as an SD-JWT VC",
    description="An SD-JWT VC signed by the gateway's did:web in which each recorded attribute (name, VIN, "
    "national id) is a separate disclosure. Bound to the customer's did:key (`cnf`) when one is bound.",
    response_model=IssuedSdJwt,
    responses=problem_responses(401, 409),
)
def issue_profile_sd_jwt(
    store: ProfileAttributesDep, credentials: CredentialsDep, customer: CustomerPrincipal = Depends(require_customer)
) -> IssuedSdJwt:
    return _issue(store, credentials, customer)


def _decode_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment, canonical=False))
    except ValueError:
        raise SdJwtError("the issuer JWT is not base64url JSON") from None
    if not isinstance(value, dict):
        raise SdJwtError("the issuer JWT header and payload must be JSON objects")
    return value


def _verify(credentials: CredentialService, body: SdJwtVerification) -> VerifiedSdJwt:
    parts = body.presentation.split("~", 1)[0].split(".")
    if len(parts) != 3:
        raise SdJwtError("the issuer JWT must have three parts")
    header, payload = _decode_segment(parts[0]), _decode_segment(parts[1])
    # Only our own did:web signs these; any key it ever had (rotation keeps them) is accepted.
    methods = {m["id"]: m["publicKeyMultibase"] for m in credentials.did_document()["verificationMethod"]}
    kid = header.get("kid")
    if kid not in methods:
        raise rule_problem("issuer-key", f"kid {kid!r} is not a key of {credentials.keyring.current.did}")
    if payload.get("vct") != PROFILE_VCT:
        raise rule_problem("vct", f"vct {payload.get('vct')!r} is not {PROFILE_VCT}")
    key_bound = "cnf" in payload
    claims = verify_sd_jwt(
        body.presentation,
        issuer_key=public_key_from_multibase(methods[kid]),
        expected_issuer=credentials.keyring.current.did,
        require_key_binding=key_bound,
        audience=body.audience,
        nonce=body.nonce,
    )
    return VerifiedSdJwt(verified=True, key_bound=key_bound, claims=claims)


@router.post(
    "/credentials/sd-jwt/verify",
    summary="Verify an SD-JWT VC presentation",
    description="Checks the gateway's signature, issuer, type, expiry and every disclosure against its digest "
    "(RFC 9901 §7), and — for a key-bound credential — the Key Binding JWT for `audience` and `nonce`. Answers "
    "the signed claims plus only the disclosed ones; failures are a 422 problem naming the rule.",
    response_model=VerifiedSdJwt,
    responses=problem_responses(400, 413, 422),
    openapi_extra=body_schema(SdJwtVerification),
)
async def verify_profile_sd_jwt(request: Request, credentials: CredentialsDep) -> VerifiedSdJwt:
    body = await read_model(request, SdJwtVerification, PRESENTATION_MAX_BYTES)
    try:
        return await run_in_threadpool(_verify, credentials, body)
    except CredentialError as exc:
        raise credential_problem(exc) from None
