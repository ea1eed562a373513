"""Signing in with a DID wallet (DID Authentication), binding a wallet DID, and taking custody of a custodial DID.

The gateway issues a single-use challenge; the wallet answers with a Verifiable Presentation signed for
`authentication` over that challenge and this gateway's domain. The challenge is consumed before the
presentation is checked, so a failed attempt burns it too. A verified holder DID that is bound to a
customer opens the same session cookie as password sign-in. Binding (a signed-in customer proving control
of a DID, or a wallet proving it with a one-time code the signed-in customer took: `consentry wallet bind`,
`gateway.rights.wallet_binding`) is how a DID becomes bound, unless the administrator enrolled the customer
with it. A customer
enrolled without one has a custodial did:key whose private key the gateway keeps sealed until the customer
takes it (`POST /v1/me/did/custody`, once). Challenges are rate-limited per customer (binding) and per remote
address (sign-in), since each one is a row in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from credentials import CredentialError, CredentialService, DidAuthError
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.custody import KeyAlreadyReleasedError, NoCustodialKeyError, SealedKeyError
from gateway.auth.customers import CustomerStore, DidInUseError
from gateway.auth.did_challenges import CHALLENGE_TTL, DidChallengeStore, Purpose
from gateway.auth.principals import CustomerPrincipal
from gateway.auth.rate_limits import GLOBAL_KEY, RequestLimits, enforce, request_address_key
from gateway.dependencies import (
    SESSION_COOKIE,
    CredentialsDep,
    CustomersDep,
    EngineDep,
    LedgerDep,
    LimitsDep,
    PseudonymsDep,
    SessionsDep,
    SettingsDep,
    require_customer,
)
from gateway.rights.did_custody import did_custody, release_key
from gateway.rights.wallet_binding import BindingCodeError, bind_with_code, issue_binding_code
from gateway.routers.customer import CustomerProfile, SessionInfo
from gateway.settings import Settings
from gateway.web.credential_problems import credential_problem, rule_problem, verification_problem
from gateway.web.json_body import PRESENTATION_MAX_BYTES, body_schema, read_model
from gateway.web.problems import Problem, problem_responses
from ledger.store import Ledger

router = APIRouter(prefix="/v1", tags=["wallet"])

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


def _issue(engine: Engine, credentials: CredentialService, purpose: Purpose) -> DidChallenge:
    challenge, expires = DidChallengeStore(engine, CHALLENGE_TTL).issue(purpose)
    return DidChallenge(challenge=challenge, domain=credentials.domain, expires_at=expires.isoformat())


def _signed_challenge(presentation: Mapping[str, Any]) -> str | None:
    proofs = presentation.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        if isinstance(proof, Mapping) and isinstance(proof.get("challenge"), str):
            return str(proof["challenge"])
    return None


def _proven_did(
    engine: Engine, credentials: CredentialService, presentation: Mapping[str, Any], purpose: Purpose, status: int
) -> str:
    """Consume the signed-in challenge, then verify; raises a problem naming the failed rule."""
    challenge = _signed_challenge(presentation)
    if challenge is None or not DidChallengeStore(engine, CHALLENGE_TTL).consume(challenge, purpose):
        problem = rule_problem(
            "challenge",
            "The presentation does not answer a live challenge of ours: unknown, already used or expired. "
            "Ask for a new one.",
            status=status,
        )
        raise _with_auth_header(problem, status)
    try:
        return credentials.verify_wallet_login(presentation, challenge=challenge)
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


def _unauthenticated_challenge(
    request: Request,
    engine: Engine,
    credentials: CredentialService,
    limits: RequestLimits,
    settings: Settings,
    purpose: Purpose,
) -> DidChallenge:
    """A challenge for a caller nobody has authenticated: each buys one signature check, so it is counted per
    remote address and against the process-wide allowance of credential checks."""
    enforce(
        (limits.did_challenge_per_address, request_address_key(request, settings.trusted_proxies)),
        (limits.credential_checks_global, GLOBAL_KEY),
    )
    return _issue(engine, credentials, purpose)


@router.post(
    "/session/did/challenge",
    status_code=201,
    summary="Start a wallet sign-in",
    description="A fresh challenge (256 random bits), valid once for five minutes, and the domain to sign with it. "
    "Rate-limited per remote address and, with every other credential check, for the whole gateway: beyond the "
    "burst, 429 with Retry-After.",
    response_model=DidChallenge,
    responses=problem_responses(429),
)
def login_challenge(
    request: Request, engine: EngineDep, credentials: CredentialsDep, limits: LimitsDep, settings: SettingsDep
) -> DidChallenge:
    return _unauthenticated_challenge(request, engine, credentials, limits, settings, "login")


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
async def wallet_sign_in(
    request: Request,
    response: Response,
    engine: EngineDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> SessionInfo:
    body = await read_model(request, WalletPresentation, PRESENTATION_MAX_BYTES)
    did = await run_in_threadpool(_proven_did, engine, credentials, body.presentation, "login", 401)
    customer = await run_in_threadpool(customers.by_did, did)
    if customer is None:
        raise Problem(
            401,
            "unknown-did",
            "No customer has bound this DID: sign in with your password and bind your wallet first.",
            title="Unauthorized",
            headers=_AUTHENTICATE,
        )
    token, expires = await run_in_threadpool(sessions.create, customer.customer_id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return SessionInfo(customer=CustomerProfile.of(customer), expires_at=expires.isoformat())


@router.post(
    "/me/did/challenge",
    status_code=201,
    summary="Start binding a wallet DID",
    description="A single-use challenge for `PUT /v1/me/did` (it cannot be used to sign in). Rate-limited per "
    "customer: beyond the burst, 429 with Retry-After.",
    response_model=DidChallenge,
    responses=problem_responses(401, 429),
)
def bind_challenge(
    engine: EngineDep,
    credentials: CredentialsDep,
    limits: LimitsDep,
    customer: CustomerPrincipal = Depends(require_customer),
) -> DidChallenge:
    enforce((limits.did_challenge_per_customer, customer.customer_id))
    return _issue(engine, credentials, "bind")


@router.put(
    "/me/did",
    summary="Bind my wallet DID",
    description="The signed-in customer proves control of a DID with a presentation over a challenge from "
    "`POST /v1/me/did/challenge`; the DID then signs in as this customer, receives consent receipts and binds "
    "SD-JWT credentials. A DID already bound to another customer is a 409. The gateway deletes its copy of the "
    "key of the custodial DID this one replaces.",
    response_model=CustomerProfile,
    responses=problem_responses(400, 401, 409, 413, 422),
    openapi_extra=body_schema(WalletPresentation),
)
async def bind_did(
    request: Request,
    engine: EngineDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    customer: CustomerPrincipal = Depends(require_customer),
) -> CustomerProfile:
    body = await read_model(request, WalletPresentation, PRESENTATION_MAX_BYTES)
    did = await run_in_threadpool(_proven_did, engine, credentials, body.presentation, "bind", 422)
    try:
        await run_in_threadpool(customers.set_did, customer.customer_id, did)
    except DidInUseError as exc:
        raise Problem(409, "conflict", str(exc)) from None
    bound = await run_in_threadpool(customers.get, customer.customer_id)
    assert bound is not None
    return CustomerProfile.of(bound)


class MyDid(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                    "gateway_holds_key": True,
                    "key_released_at": None,
                    "key_released_ledger_index": None,
                }
            ]
        }
    )
    did: str | None = Field(description="The DID the customer's consent receipts are issued to; null until needed.")
    gateway_holds_key: bool = Field(
        description="True while the gateway keeps the (sealed) private key of this custodial did:key; false for a "
        "wallet DID and after the customer took custody."
    )
    key_released_at: str | None = Field(description="When the customer took custody of the key.")
    key_released_ledger_index: int | None = Field(description="The ledger entry recording that release.")


class PrivateJwk(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
                    "kid": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#"
                    "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                }
            ]
        }
    )
    kty: str
    crv: str
    x: str
    d: str = Field(description="The private key. Shown once: the gateway no longer has it.")
    kid: str = Field(description="The did:key verification method this key signs as.")


def _my_did(engine: Engine, customer: CustomerPrincipal) -> MyDid:
    state = did_custody(engine, customer)
    return MyDid(
        did=state.did,
        gateway_holds_key=state.gateway_holds_key,
        key_released_at=state.released_at.isoformat() if state.released_at else None,
        key_released_ledger_index=state.released_ledger_index,
    )


@router.get(
    "/me/did",
    summary="My DID",
    description="The signed-in customer's DID and whether the gateway still holds its private key.",
    response_model=MyDid,
    responses=problem_responses(401),
)
def my_did(engine: EngineDep, customer: CustomerPrincipal = Depends(require_customer)) -> MyDid:
    return _my_did(engine, customer)


def _release(
    customers: CustomerStore, ledger: Ledger, pseudonyms: Pseudonyms, customer: CustomerPrincipal
) -> dict[str, str]:
    try:
        return release_key(customers, ledger, pseudonyms, customer).jwk
    except NoCustodialKeyError as exc:
        raise Problem(409, "no-custodial-key", f"The gateway holds no key for your DID: {exc}.") from None
    except KeyAlreadyReleasedError:
        raise Problem(
            409, "key-already-released", "You already took custody of this key; the gateway kept no copy."
        ) from None
    except SealedKeyError:
        raise Problem(500, "custody-key-unreadable", "The gateway cannot open its copy of your key.") from None


@router.post(
    "/me/did/custody",
    summary="Take custody of my DID's private key",
    description="Returns the private key of the customer's custodial did:key once, as an Ed25519 JWK (RFC 8037, "
    "with `d`), and deletes the gateway's copy in the same transaction as the ledger entry "
    "(`customer.did.custody`, without key material) that records the release. Import it into a wallet: the DID, "
    "and every receipt issued to it, stay the same. The answer is not cached (`Cache-Control: no-store`). A "
    "second call is a 409 `key-already-released`; a customer whose DID is their wallet's gets a 409 "
    "`no-custodial-key`.",
    response_model=PrivateJwk,
    responses=problem_responses(401, 409),
)
async def take_custody(
    response: Response,
    customers: CustomersDep,
    ledger: LedgerDep,
    pseudonyms: PseudonymsDep,
    customer: CustomerPrincipal = Depends(require_customer),
) -> PrivateJwk:
    jwk = await run_in_threadpool(_release, customers, ledger, pseudonyms, customer)
    response.headers["Cache-Control"] = "no-store"
    return PrivateJwk(**jwk)


class WalletBindingCode(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "K7QM-3XHD-PZ9A", "expires_at": "2026-01-01T08:10:00+00:00"}]}
    )
    code: str = Field(description="Type it into `consentry wallet bind --code`; binds one wallet, once.")
    expires_at: str


class WalletBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32, description="The code the customer got on their account page.")
    presentation: dict[str, Any] = Field(
        description="The wallet's DID Authentication over a challenge from `POST /v1/wallet/bindings/challenge`."
    )


class WalletBound(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                    "customer_id": "c-2f1a",
                    "ledger_index": 42,
                }
            ]
        }
    )
    did: str
    customer_id: str
    ledger_index: int = Field(description="The `customer.did.bound` entry recording the binding.")


@router.post(
    "/me/wallet/binding-codes",
    status_code=201,
    summary="A one-time code to bind a wallet to my account",
    description="The signed-in customer's proof of the account for `consentry wallet bind`: shown once, valid "
    "ten minutes, binds one wallet. Rate-limited per customer: beyond the burst, 429 with Retry-After.",
    response_model=WalletBindingCode,
    responses=problem_responses(401, 429),
)
def wallet_binding_code(
    engine: EngineDep, limits: LimitsDep, response: Response, customer: CustomerPrincipal = Depends(require_customer)
) -> WalletBindingCode:
    enforce((limits.did_challenge_per_customer, customer.customer_id))
    issued = issue_binding_code(engine, customer.customer_id)
    response.headers["Cache-Control"] = "no-store"
    return WalletBindingCode(code=issued.code, expires_at=issued.expires_at.isoformat())


@router.post(
    "/wallet/bindings/challenge",
    status_code=201,
    summary="Start binding a wallet with a code",
    description="A single-use challenge for `POST /v1/wallet/bindings` (it cannot be used to sign in). "
    "Rate-limited per remote address and for the whole gateway: beyond the burst, 429 with Retry-After.",
    response_model=DidChallenge,
    responses=problem_responses(429),
)
def wallet_binding_challenge(
    request: Request, engine: EngineDep, credentials: CredentialsDep, limits: LimitsDep, settings: SettingsDep
) -> DidChallenge:
    return _unauthenticated_challenge(request, engine, credentials, limits, settings, "bind")


@router.post(
    "/wallet/bindings",
    status_code=201,
    summary="Bind a wallet's DID to the account a binding code was shown to",
    description="The wallet proves control of the DID (a presentation over a challenge from "
    "`POST /v1/wallet/bindings/challenge`), the code proves the customer's say-so. The signature is checked "
    "first (401 naming the failed rule; the code stays usable), then the code: 403 `binding-code-invalid` when "
    "unknown or used, 410 `binding-code-expired`. A DID already bound to another customer is a 409. On success "
    "the DID signs in as the customer, and the ledger records `customer.did.bound`.",
    response_model=WalletBound,
    responses=problem_responses(400, 401, 403, 409, 410, 413, 422),
    openapi_extra=body_schema(WalletBinding),
)
async def bind_wallet(
    request: Request,
    engine: EngineDep,
    credentials: CredentialsDep,
    ledger: LedgerDep,
    pseudonyms: PseudonymsDep,
) -> WalletBound:
    body = await read_model(request, WalletBinding, PRESENTATION_MAX_BYTES)
    did = await run_in_threadpool(_proven_did, engine, credentials, body.presentation, "bind", 401)
    try:
        customer_id, index = await run_in_threadpool(bind_with_code, ledger, pseudonyms, body.code, did)
    except BindingCodeError as exc:
        status, kind = (410, "binding-code-expired") if exc.kind == "expired" else (403, "binding-code-invalid")
        raise Problem(status, kind, str(exc)) from None
    except DidInUseError as exc:
        raise Problem(409, "conflict", str(exc)) from None
    return WalletBound(did=did, customer_id=customer_id, ledger_index=index)
