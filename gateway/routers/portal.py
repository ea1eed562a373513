"""The consent portal in the browser: sign in and out, language, static assets, and the customer's pages.

Server-rendered HTML. Every essential action is a plain form POST answered with 303 See Other (works with
JavaScript off); `static/portal.js` only adds comfort. The routes are left out of the OpenAPI document:
they are a user interface, not an API (the API under `/v1` is what they call).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from credentials import CredentialService
from gateway.auth.customers import LoginLockedError
from gateway.auth.principals import CustomerPrincipal
from gateway.auth.rate_limits import RateLimitedError, RequestLimits, TrustedProxies, request_address_key
from gateway.auth.sign_in import PasswordSignIn, password_sign_in
from gateway.dependencies import (
    SESSION_COOKIE,
    CredentialsDep,
    CustomersDep,
    EngineDep,
    LimitsDep,
    SessionsDep,
    SettingsDep,
    ThrottleDep,
)
from gateway.portal.i18n import LANGUAGE_COOKIE, LANGUAGES
from gateway.portal.pages import router as pages_router
from gateway.portal.session import Visit, VisitDep, open_signed_in_form
from gateway.portal.wallet import WalletSignInError, issue_login_challenge, wallet_customer
from gateway.portal.web import NAV_ITEMS, PORTAL_PREFIX, local_path, redirect, render, security_headers

router = APIRouter(prefix=PORTAL_PREFIX, include_in_schema=False)

_STATIC = Path(__file__).resolve().parent.parent / "portal" / "static"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_ASSETS = {path.name: path for path in _STATIC.iterdir() if path.suffix in _STATIC_TYPES}
_YEAR = 365 * 24 * 3600
_NOTICES = frozenset({"expired", "signed-out", "locked", "invalid"})


@router.get("/static/{name}")
def static_asset(name: str) -> Response:
    """Only the files shipped in `portal/static` (by exact name), so no path can escape the directory."""
    path = _ASSETS.get(name)
    if path is None:
        return security_headers(Response(status_code=404))
    response = FileResponse(path, media_type=_STATIC_TYPES[path.suffix])
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/")
async def home(visit: VisitDep) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    return redirect(visit.page, f"{PORTAL_PREFIX}{NAV_ITEMS[0][1]}")


@router.get("/sign-in")
async def sign_in_form(visit: VisitDep, request: Request) -> Response:
    target = local_path(request.query_params.get("next"))
    if visit.customer is not None:
        return redirect(visit.page, target)
    notice = request.query_params.get("notice")
    return render(
        visit.page,
        "sign_in.html",
        next=target,
        notice=notice if notice in _NOTICES else None,
        username="",
    )


async def _attempt(sign_in: PasswordSignIn, username: str, password: str, address: str) -> CustomerPrincipal | int:
    """The customer, or how long to wait (whole seconds, 0 for a wrong password) under the same limits, gate and
    lockout as `POST /v1/session`."""
    try:
        customer = await sign_in.attempt(username, password, address)
    except (LoginLockedError, RateLimitedError) as exc:
        return exc.retry_after
    return customer if customer is not None else 0


@router.post("/sign-in")
async def sign_in(
    visit: VisitDep,
    throttle: ThrottleDep,
    customers: CustomersDep,
    sessions: SessionsDep,
    limits: LimitsDep,
    settings: SettingsDep,
) -> Response:
    form = await visit.form()
    if form is None:
        return visit.csrf_failure()
    username = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")[:1024]
    target = local_path(str(form.get("next") or ""))
    if not username or not password:
        return render(visit.page, "sign_in.html", 422, next=target, notice="invalid", username=username)
    address = request_address_key(visit.page.request, settings.trusted_proxies)
    outcome = await _attempt(password_sign_in(limits, throttle, customers), username, password, address)
    if not isinstance(outcome, CustomerPrincipal):
        locked_for = outcome
        response = render(
            visit.page,
            "sign_in.html",
            429 if locked_for else 401,
            next=target,
            notice="locked" if locked_for else "invalid",
            username=username,
        )
        if locked_for:
            response.headers["Retry-After"] = str(locked_for)
        return response
    token, _ = await run_in_threadpool(sessions.create, outcome.customer_id)
    visit.page.extra_cookies.append((SESSION_COOKIE, token, settings.session_ttl_seconds))
    return redirect(visit.page, target)


@router.get("/sign-in/wallet")
async def wallet_sign_in_form(
    visit: VisitDep,
    engine: EngineDep,
    credentials: CredentialsDep,
    limits: LimitsDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """A fresh single-use challenge for the wallet to sign, and the form to paste its presentation into."""
    target = local_path(request.query_params.get("next"))
    if visit.customer is not None:
        return redirect(visit.page, target)
    return await _wallet_form(
        visit, _Challenges(engine, credentials, limits, settings.trusted_proxies), target, failure=None
    )


@dataclass(frozen=True)
class _Challenges:
    """What issuing the wallet sign-in page's challenge uses."""

    engine: Engine
    credentials: CredentialService
    limits: RequestLimits
    trusted_proxies: TrustedProxies


async def _wallet_form(visit: Visit, challenges: _Challenges, target: str, *, failure: str | None) -> Response:
    request = visit.page.request
    address = request_address_key(request, challenges.trusted_proxies)
    try:
        challenge, domain = await run_in_threadpool(
            issue_login_challenge, challenges.engine, challenges.credentials, challenges.limits, address
        )
    except RateLimitedError as exc:
        response = render(
            visit.page,
            "error.html",
            429,
            title_key="error.too_many.title",
            body_key="error.too_many.body",
            body_values={"seconds": exc.retry_after},
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return render(
        visit.page,
        "wallet_sign_in.html",
        401 if failure else 200,
        challenge=challenge,
        domain=domain,
        next=target,
        failure=failure,
    )


@router.post("/sign-in/wallet")
async def wallet_sign_in(
    visit: VisitDep,
    engine: EngineDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    limits: LimitsDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> Response:
    form = await visit.form()
    if form is None:
        return visit.csrf_failure()
    target = local_path(str(form.get("next") or ""))
    try:
        customer = await run_in_threadpool(
            wallet_customer, engine, credentials, customers, str(form.get("presentation") or "")
        )
    except WalletSignInError as exc:
        return await _wallet_form(
            visit, _Challenges(engine, credentials, limits, settings.trusted_proxies), target, failure=exc.kind
        )
    token, _ = await run_in_threadpool(sessions.create, customer.customer_id)
    visit.page.extra_cookies.append((SESSION_COOKIE, token, settings.session_ttl_seconds))
    return redirect(visit.page, target)


@router.post("/sign-out")
async def sign_out(visit: VisitDep, sessions: SessionsDep, settings: SettingsDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit = posted.visit
    if visit.session:
        await run_in_threadpool(sessions.end, visit.session)
    response = redirect(visit.page, f"{PORTAL_PREFIX}/sign-in?notice=signed-out")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=settings.secure_cookies)
    return response


@router.post("/language")
async def choose_language(visit: VisitDep) -> Response:
    """Remember the chosen language for a year; works signed in or not."""
    form = await visit.form()
    if form is None:
        return visit.csrf_failure()
    language = str(form.get("lang") or "")
    if language in LANGUAGES:
        visit.page.extra_cookies.append((LANGUAGE_COOKIE, language, _YEAR))
    return redirect(visit.page, local_path(str(form.get("next") or "")))


router.include_router(pages_router)
