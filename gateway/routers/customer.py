"""The customer's own account: sign in and out, and their profile.

A customer only ever sees their own records. Asking for anyone else's answers exactly what asking for a
record that does not exist answers (`not_found_like_absent`), so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.customers import LoginLockedError
from gateway.auth.principals import CustomerPrincipal
from gateway.auth.rate_limits import RateLimitedError, request_address_key
from gateway.auth.sign_in import PasswordSignIn, password_sign_in
from gateway.dependencies import (
    SESSION_COOKIE,
    CustomersDep,
    LimitsDep,
    SessionsDep,
    SettingsDep,
    ThrottleDep,
    require_customer,
    session_scheme,
)
from gateway.web.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["customer"])

_PROFILE_EXAMPLE: dict[str, Any] = {
    "customer_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "username": "li.wei",
    "display_name": "Li Wei",
    "jurisdiction": "CN",
    "did": None,
}


class CustomerProfile(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PROFILE_EXAMPLE]})

    customer_id: str
    username: str
    display_name: str
    jurisdiction: str
    did: str | None = Field(
        description="The customer's DID: their wallet's, or a did:key the gateway created at enrolment (see "
        "`GET /v1/me/did`). Null only for an account enrolled before that, until it first needs one."
    )

    @classmethod
    def of(cls, customer: CustomerPrincipal) -> CustomerProfile:
        return cls(
            customer_id=customer.customer_id,
            username=customer.username,
            display_name=customer.display_name,
            jurisdiction=customer.jurisdiction,
            did=customer.did,
        )


class Credentials(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "li.wei", "password": "correct horse battery"}]}
    )
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class SessionInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer": _PROFILE_EXAMPLE, "expires_at": "2026-01-01T08:00:00+00:00"}]}
    )
    customer: CustomerProfile
    expires_at: str


def not_found_like_absent(what: str = "record") -> Problem:
    """The one answer for 'does not exist' and 'not yours': identical status, type, title and detail."""
    return Problem(404, "not-found", f"No such {what}.")


async def _login(sign_in: PasswordSignIn, body: Credentials, address: str) -> CustomerPrincipal:
    try:
        customer = await sign_in.attempt(body.username, body.password, address)
    except RateLimitedError as exc:
        raise Problem(
            429,
            "too-many-requests",
            f"Too many sign-ins; retry after {exc.retry_after} s.",
            title="Too Many Requests",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    except LoginLockedError as exc:
        raise Problem(
            429,
            "login-locked",
            "Too many failed sign-ins for this username; try again later.",
            title="Too Many Requests",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    if customer is None:
        raise Problem(
            401,
            "invalid-credentials",
            "The username or password is wrong.",
            title="Unauthorized",
            headers={"WWW-Authenticate": f'Cookie realm="consentry", cookie-name="{SESSION_COOKIE}"'},
        )
    return customer


@router.post(
    "/session",
    summary="Sign in",
    description="Checks the password (argon2id) and sets the session cookie (HttpOnly, SameSite=Lax, Secure "
    "when served over https). After too many failures within the window the username is locked for a while "
    "for the address they came from (429 `login-locked` with Retry-After), whether or not such an account exists. "
    "Sign-ins are limited per remote address and for the whole gateway, and only a few passwords are checked at "
    "once, a few more waiting: beyond, 429 `too-many-requests` with Retry-After.",
    response_model=SessionInfo,
    responses=problem_responses(401, 422, 429),
)
async def sign_in(
    body: Credentials,
    request: Request,
    response: Response,
    throttle: ThrottleDep,
    customers: CustomersDep,
    sessions: SessionsDep,
    limits: LimitsDep,
    settings: SettingsDep,
) -> SessionInfo:
    address = request_address_key(request, settings.trusted_proxies)
    customer = await _login(password_sign_in(limits, throttle, customers), body, address)
    token, expires_at = await run_in_threadpool(sessions.create, customer.customer_id)
    expires = expires_at.isoformat()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )
    return SessionInfo(customer=CustomerProfile.of(customer), expires_at=expires)


@router.delete(
    "/session",
    status_code=204,
    summary="Sign out",
    description="Ends the session server-side and clears the cookie; the old cookie value no longer works.",
    responses=problem_responses(401),
)
def sign_out(
    sessions: SessionsDep,
    settings: SettingsDep,
    response: Response,
    _: CustomerPrincipal = Depends(require_customer),
    session: Any = Depends(session_scheme),
) -> None:
    sessions.end(str(session))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=settings.secure_cookies, samesite="lax")


@router.get(
    "/me",
    summary="My profile",
    description="The signed-in customer's account.",
    response_model=CustomerProfile,
    responses=problem_responses(401),
)
def me(customer: CustomerPrincipal = Depends(require_customer)) -> CustomerProfile:
    return CustomerProfile.of(customer)


@router.get(
    "/customers/{customer_id}",
    summary="A customer profile (only one's own)",
    description="Answers with the profile if the id is the signed-in customer's own; any other id, existing or "
    "not, gets the same 404, so customer ids cannot be discovered.",
    response_model=CustomerProfile,
    responses=problem_responses(401, 404),
)
def customer_by_id(
    customer_id: str = Path(description="A customer id.", examples=[_PROFILE_EXAMPLE["customer_id"]]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> CustomerProfile:
    if customer_id != customer.customer_id:
        raise not_found_like_absent("customer")
    return CustomerProfile.of(customer)
