"""FastAPI dependencies that authenticate the caller and check its role and scopes.

Routes declare who may call them with one of (and reach the runtime through `get_runtime`):

- `require_client(scopes=..., roles=...)` — an OAuth client with a valid RFC 9068 bearer token;
- `require_customer` — a customer with a live session cookie.

Failures are problem+json: 401 with `WWW-Authenticate` when the caller is not authenticated, 403 when an
authenticated caller lacks the role or scope (RFC 6750 §3.1 `insufficient_scope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal, Role
from gateway.auth.rfc9068 import AccessTokenError
from gateway.runtime import Runtime, get_runtime
from gateway.web.problems import Problem

__all__ = [
    "PROXY_GRANTS",
    "SESSION_COOKIE",
    "Grants",
    "authenticate_client",
    "bearer_token",
    "current_client",
    "get_runtime",
    "require_admin",
    "require_auditor",
    "require_client",
    "require_customer",
    "require_zk_client",
]

SESSION_COOKIE = "consentry_session"
REALM = "consentry"

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="oauth2-bearer", description="RFC 9068 access token from POST /oauth/token."
)
session_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="customer-session", description="Set by POST /v1/session."
)


def _invalid_token(description: str) -> Problem:
    return Problem(
        401,
        "invalid-token",
        "The access token is invalid, expired or revoked.",
        title="Unauthorized",
        headers={
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
        },
    )


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header (RFC 6750 §2.1), read as `HTTPBearer` reads it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate_client(request: Request, runtime: Runtime, token: str | None) -> ClientPrincipal:
    """The OAuth client behind a valid, unrevoked bearer token whose registration is still active."""
    if token is None:
        raise Problem(
            401,
            "unauthorized",
            "This route needs a bearer access token.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    bearer = runtime.bearer
    try:
        claims = bearer.claims(token)
    except AccessTokenError as exc:
        raise _invalid_token(str(exc).split(":")[0]) from exc
    # From memory when fresh (no thread hop); otherwise the database, off the event loop.
    result = bearer.cached(claims)
    if result is None:
        result = await run_in_threadpool(bearer.resolve, claims)
    client = result.client
    if result.revoked:
        raise _invalid_token("revoked")
    if client is None or client.disabled:
        raise _invalid_token("client disabled")
    token_scopes = frozenset(str(claims.get("scope") or "").split()) & client.scopes
    principal = ClientPrincipal(
        client_id=client.client_id,
        organization=client.organization,
        roles=client.roles,
        scopes=token_scopes,
        allowed_purposes=client.allowed_purposes,
        jurisdiction=client.jurisdiction,
        token_id=str(claims["jti"]),
        token_expires_at=int(claims["exp"]),
    )
    request.state.principal = principal.actor
    return principal


async def current_client(
    request: Request,
    _documented: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
    runtime: Runtime = Depends(get_runtime),
) -> ClientPrincipal:
    """`_documented` puts the bearer scheme in the OpenAPI description; the token is read by `bearer_token`, the
    one parser every client route (the proxy's direct ones included) goes through."""
    return await authenticate_client(request, runtime, bearer_token(request))


@dataclass(frozen=True)
class Grants:
    """Who may call a route: every one of `scopes` in the token, and one of `roles` (any role when empty)."""

    scopes: frozenset[str] = frozenset()
    roles: frozenset[Role] = frozenset()

    def check(self, principal: ClientPrincipal) -> ClientPrincipal:
        missing = self.scopes - principal.scopes
        if missing:
            scope = " ".join(sorted(self.scopes))
            raise Problem(
                403,
                "insufficient-scope",
                f"The access token lacks the scope(s): {' '.join(sorted(missing))}.",
                title="Forbidden",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
            )
        if self.roles and not self.roles & principal.roles:
            raise Problem(403, "forbidden", "Your client's role may not use this route.")
        return principal


def require_client(
    *, scopes: Iterable[str] = (), roles: Iterable[Role] = ()
) -> Callable[[ClientPrincipal], Awaitable[ClientPrincipal]]:
    """A dependency admitting clients whose token holds every scope and who have one of the roles."""
    grants = Grants(frozenset(scopes), frozenset(roles))

    async def dependency(principal: ClientPrincipal = Depends(current_client)) -> ClientPrincipal:
        return grants.check(principal)

    return dependency


def require_customer(
    request: Request,
    session: str | None = Security(session_scheme),
    runtime: Runtime = Depends(get_runtime),
) -> CustomerPrincipal:
    """The customer of a live session cookie."""
    customer_id = runtime.sessions.resolve(session) if session else None
    customer = runtime.customers.get(customer_id) if customer_id else None
    if customer is None:
        raise Problem(
            401,
            "unauthorized",
            "Sign in first: this route needs a customer session.",
            headers={"WWW-Authenticate": f'Cookie realm="{REALM}", cookie-name="{SESSION_COOKIE}"'},
        )
    request.state.principal = customer.actor
    return customer


# The common role checks, named so routers read as a table of who may do what.
require_admin = require_client(scopes=["admin"], roles=[Role.ADMIN])
require_auditor = require_client(scopes=["ledger:read"], roles=[Role.AUDITOR, Role.ADMIN])
PROXY_GRANTS = Grants(frozenset({"proxy"}), frozenset({Role.CRM}))
require_zk_client = require_client(scopes=["zk"], roles=[Role.CRM])
