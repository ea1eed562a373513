"""Signing in with a DID wallet (DID Authentication), and binding a wallet DID to an account.

The gateway issues a single-use challenge; the wallet answers with a Verifiable Presentation signed for
`authentication` over that challenge and this gateway's domain. The challenge is consumed before the
presentation is checked, so a failed attempt burns it too. A verified holder DID that is bound to a
customer opens the same session cookie as password sign-in. Binding (a signed-in customer proving control
of a DID) is how a DID becomes bound, unless the administrator enrolled the customer with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from credentials import CredentialError, DidAuthError
from gateway.auth.customers import DidInUseError
from gateway.auth.did_challenges import DidChallengeStore, Purpose
from gateway.auth.principals import CustomerPrincipal
from gateway.credential_problems import credential_problem, rule_problem, verification_problem
from gateway.dependencies import SESSION_COOKIE, require_customer
from gateway.json_body import body_schema, read_model
from gateway.problems import Problem, problem_responses
from gateway.routers.customer import CustomerProfile, SessionInfo
from gateway.runtime import Runtime, get_runtime

router = APIRouter(prefix="/v1", tags=["wallet"])

CHALLENGE_TTL = timedelta(minutes=5)
PRESENTATION_MAX_BYTES = 16 * 1024
_AUTHENTICATE = {"WWW-Authenticate": f'Cookie realm="consentry", cookie-name="{SESSION_COOKIE}"'}


class DidChallenge(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "challenge": "kq3L0b2v7r1YcQ2m0hS9a8f3X5d6e7g8h9i0j1k2l3m",
                    "domain": "gateway.example.com",
                    "expires_at": "2026-01-01T08:05:00+00:00",
                }
            ]
        }
    )
    challenge: str = Field(description="Sign it into the presentation's proof (`challenge`); valid once.")
    domain: str = Field(description="Sign it into the proof's `domain`.")
    expires_at: str


class WalletPresentation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presentation: dict[str, Any] = Field(
        description="A VC 2.0 presentation with `holder` set to the DID and a Data Integrity proof "
        "(eddsa-rdfc-2022 or eddsa-jcs-2022) for `authentication`."
    )


def _challenges(runtime: Runtime) -> DidChallengeStore:
    return DidChallengeStore(runtime.engine, CHALLENGE_TTL)


def _issue(runtime: Runtime, purpose: Purpose) -> DidChallenge:
    challenge, expires = _challenges(runtime).issue(purpose)
    return DidChallenge(challenge=challenge, domain=runtime.credentials.domain, expires_at=expires.isoformat())


def _signed_challenge(presentation: Mapping[str, Any]) -> str | None:
    proofs = presentation.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        if isinstance(proof, Mapping) and isinstance(proof.get("challenge"), str):
            return str(proof["challenge"])
    return None


def _proven_did(runtime: Runtime, presentation: Mapping[str, Any], purpose: Purpose, status: int) -> str:
    """Consume the signed-in challenge, then verify; raises a problem naming the failed rule."""
    challenge = _signed_challenge(presentation)
    if challenge is None or not _challenges(runtime).consume(challenge, purpose):
        problem = rule_problem(
            "challenge",
            "The presentation does not answer a live challenge of ours: unknown, already used or expired. "
            "Ask for a new one.",
            status=status,
        )
        raise _with_auth_header(problem, status)
    try:
        return runtime.credentials.verify_wallet_login(presentation, challenge=challenge)
    except DidAuthError as exc:
        raise _with_auth_header(verification_problem(exc.result, status=status), status) from None
    except CredentialError as exc:
        raise _with_auth_header(credential_problem(exc), status) from None


def _with_auth_header(problem: Problem, status: int) -> Problem:
    if status == 401:
        problem.status = 401
        problem.title = "Unauthorized"
        problem.headers.update(_AUTHENTICATE)
    return problem


@router.post(
    "/session/did/challenge",
    status_code=201,
    summary="Start a wallet sign-in",
    description="A fresh challenge (256 random bits), valid once for five minutes, and the domain to sign with it.",
    response_model=DidChallenge,
)
def login_challenge(runtime: Runtime = Depends(get_runtime)) -> DidChallenge:
    return _issue(runtime, "login")


@router.post(
    "/session/did",
    summary="Sign in with a DID wallet",
    description="Takes the wallet's presentation over a challenge from `POST /v1/session/did/challenge`. The "
    "challenge is used up whatever the outcome. On success the DID's customer gets the same session cookie as "
    "password sign-in. An unknown, replayed or expired challenge, a proof for another domain or purpose, a bad "
    "signature, or a DID bound to no customer is a 401 problem whose type names the rule.",
    response_model=SessionInfo,
    responses=problem_responses(400, 401, 413, 422),
    openapi_extra=body_schema(WalletPresentation),
)
async def wallet_sign_in(request: Request, response: Response, runtime: Runtime = Depends(get_runtime)) -> SessionInfo:
    body = await read_model(request, WalletPresentation, PRESENTATION_MAX_BYTES)
    did = await run_in_threadpool(_proven_did, runtime, body.presentation, "login", 401)
    customer = await run_in_threadpool(runtime.customers.by_did, did)
    if customer is None:
        raise Problem(
            401,
            "unknown-did",
            "No customer has bound this DID: sign in with your password and bind your wallet first.",
            title="Unauthorized",
            headers=_AUTHENTICATE,
        )
    token, expires = await run_in_threadpool(runtime.sessions.create, customer.customer_id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=runtime.settings.session_ttl_seconds,
        httponly=True,
        secure=runtime.settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return SessionInfo(customer=CustomerProfile.of(customer), expires_at=expires.isoformat())


@router.post(
    "/me/did/challenge",
    status_code=201,
    summary="Start binding a wallet DID",
    description="A single-use challenge for `PUT /v1/me/did` (it cannot be used to sign in).",
    response_model=DidChallenge,
    responses=problem_responses(401),
)
def bind_challenge(
    _: CustomerPrincipal = Depends(require_customer), runtime: Runtime = Depends(get_runtime)
) -> DidChallenge:
    return _issue(runtime, "bind")


@router.put(
    "/me/did",
    summary="Bind my wallet DID",
    description="The signed-in customer proves control of a DID with a presentation over a challenge from "
    "`POST /v1/me/did/challenge`; the DID then signs in as this customer, receives consent receipts and binds "
    "SD-JWT credentials. A DID already bound to another customer is a 409.",
    response_model=CustomerProfile,
    responses=problem_responses(400, 401, 409, 413, 422),
    openapi_extra=body_schema(WalletPresentation),
)
async def bind_did(
    request: Request, customer: CustomerPrincipal = Depends(require_customer), runtime: Runtime = Depends(get_runtime)
) -> CustomerProfile:
    body = await read_model(request, WalletPresentation, PRESENTATION_MAX_BYTES)
    did = await run_in_threadpool(_proven_did, runtime, body.presentation, "bind", 422)
    try:
        await run_in_threadpool(runtime.customers.set_did, customer.customer_id, did)
    except DidInUseError as exc:
        raise Problem(409, "conflict", str(exc)) from None
    bound = await run_in_threadpool(runtime.customers.get, customer.customer_id)
    assert bound is not None
    return CustomerProfile.of(bound)
