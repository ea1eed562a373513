"""FastAPI dependencies: the collaborators a route uses, and who may call it.

Every collaborator a route may use is handed out here, as an `Annotated` alias (`PoliciesDep`, `LedgerDep`,
`CustomersDep`, ...): a route names exactly the parts it works with, and nothing below this module ever sees
the whole `Runtime`. Each provider is `async`, so FastAPI resolves it on the event loop without a thread hop.

Routes declare who may call them with one of:

- `require_client(scopes=..., roles=...)` — an OAuth client with a valid RFC 9068 bearer token;
- `require_customer` — a customer with a live session cookie.

Failures are problem+json: 401 with `WWW-Authenticate` when the caller is not authenticated, 403 when an
authenticated caller lacks the role or scope (RFC 6750 §3.1 `insufficient_scope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from credentials import CredentialService
from gateway.analytics import AnalyticsService, Contributions
from gateway.audit.checkpoints import CheckpointBook
from gateway.audit.event_index import EventIndex
from gateway.audit.integrity import LedgerIntegrity
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.authorization_server import GatewayAuthorizationServer
from gateway.auth.bearer import BearerAuthenticator
from gateway.auth.clients import ClientRegistry, RegisteredClient
from gateway.auth.customers import CustomerStore, LoginThrottle, SessionStore
from gateway.auth.identity_index import IdentityIndex
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal, Role
from gateway.auth.profile_attributes import ProfileAttributeStore
from gateway.auth.rate_limits import RequestLimits
from gateway.auth.rfc9068 import AccessTokenError
from gateway.events import Webhooks
from gateway.keys import KeyStore
from gateway.proxy.access import AccessFlow
from gateway.proxy.profiles import ProfileFlow
from gateway.retention import Retention
from gateway.rights.access_log import AccessLog
from gateway.rights.erasure import Erasures
from gateway.rights.portability import Portability
from gateway.rights.rectification import Rectifications
from gateway.rights.transfers import Transfers
from gateway.rights.value import Value
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.upstream import UpstreamRegistry
from gateway.web.idempotency import IdempotencyStore
from gateway.web.idempotency import idempotent as _idempotent
from gateway.web.observability import Metrics
from gateway.web.problems import Problem
from gateway.zk.queries import ZkQueries
from gateway.zk.relay import Relay
from gateway.zk.service import ZkService
from ledger.store import Ledger
from policies import PolicyRuntime

__all__ = [
    "PROXY_GRANTS",
    "SESSION_COOKIE",
    "AccessFlowDep",
    "AccessLogDep",
    "AnalyticsDep",
    "BearerDep",
    "CheckpointsDep",
    "ClientsDep",
    "ContributionsDep",
    "CredentialsDep",
    "CsrfKeyDep",
    "CustomersDep",
    "EngineDep",
    "ErasuresDep",
    "EventsDep",
    "Grants",
    "IdentitiesDep",
    "IntegrityDep",
    "KeysDep",
    "LedgerDep",
    "LimitsDep",
    "MetricsDep",
    "OAuthDep",
    "PoliciesDep",
    "PortabilityDep",
    "ProfileAttributesDep",
    "ProfilesDep",
    "PseudonymsDep",
    "RectificationsDep",
    "RetentionDep",
    "SessionsDep",
    "SettingsDep",
    "ThrottleDep",
    "TransfersDep",
    "UpstreamsDep",
    "ValueDep",
    "WebhooksDep",
    "ZkDep",
    "ZkQueriesDep",
    "ZkRelayDep",
    "authenticate_client",
    "bearer_token",
    "current_client",
    "idempotent",
    "parse_bearer",
    "require_admin",
    "require_auditor",
    "require_client",
    "require_customer",
    "require_metrics_reader",
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


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _part(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A provider of one collaborator of the app's runtime (one function per part, so FastAPI caches each)."""

    async def provide(request: Request) -> Any:
        return getattr(_runtime(request), name)

    provide.__name__ = provide.__qualname__ = f"provide_{name}"
    return provide


# The collaborators, one alias each: a route's signature is the list of what it works with.
SettingsDep = Annotated[Settings, Depends(_part("settings"))]
LedgerDep = Annotated[Ledger, Depends(_part("ledger"))]
EngineDep = Annotated[Engine, Depends(_part("engine"))]
KeysDep = Annotated[KeyStore, Depends(_part("keys"))]
MetricsDep = Annotated[Metrics, Depends(_part("metrics"))]
ClientsDep = Annotated[ClientRegistry, Depends(_part("clients"))]
CustomersDep = Annotated[CustomerStore, Depends(_part("customers"))]
SessionsDep = Annotated[SessionStore, Depends(_part("sessions"))]
ThrottleDep = Annotated[LoginThrottle, Depends(_part("throttle"))]
BearerDep = Annotated[BearerAuthenticator, Depends(_part("bearer"))]
OAuthDep = Annotated[GatewayAuthorizationServer, Depends(_part("oauth"))]
LimitsDep = Annotated[RequestLimits, Depends(_part("limits"))]
CheckpointsDep = Annotated[CheckpointBook, Depends(_part("checkpoints"))]
EventsDep = Annotated[EventIndex, Depends(_part("events"))]
IntegrityDep = Annotated[LedgerIntegrity, Depends(_part("integrity"))]
PseudonymsDep = Annotated[Pseudonyms, Depends(_part("pseudonyms"))]
PoliciesDep = Annotated[PolicyRuntime, Depends(_part("policies"))]
CredentialsDep = Annotated[CredentialService, Depends(_part("credentials"))]
UpstreamsDep = Annotated[UpstreamRegistry, Depends(_part("upstreams"))]
AccessFlowDep = Annotated[AccessFlow, Depends(_part("access"))]
ProfilesDep = Annotated[ProfileFlow, Depends(_part("profiles"))]
IdentitiesDep = Annotated[IdentityIndex, Depends(_part("identities"))]
WebhooksDep = Annotated[Webhooks, Depends(_part("webhooks"))]
AccessLogDep = Annotated[AccessLog, Depends(_part("access_log"))]
PortabilityDep = Annotated[Portability, Depends(_part("portability"))]
ErasuresDep = Annotated[Erasures, Depends(_part("erasures"))]
RetentionDep = Annotated[Retention, Depends(_part("retention"))]
RectificationsDep = Annotated[Rectifications, Depends(_part("rectifications"))]
ProfileAttributesDep = Annotated[ProfileAttributeStore, Depends(_part("profile_attributes"))]
TransfersDep = Annotated[Transfers, Depends(_part("transfers"))]
ValueDep = Annotated[Value, Depends(_part("value"))]
ZkDep = Annotated[ZkService, Depends(_part("zk"))]
ZkQueriesDep = Annotated[ZkQueries, Depends(_part("zk_queries"))]
ZkRelayDep = Annotated[Relay, Depends(_part("zk_relay"))]
AnalyticsDep = Annotated[AnalyticsService, Depends(_part("analytics"))]
ContributionsDep = Annotated[Contributions, Depends(_part("contributions"))]
# The secret the portal binds CSRF tokens with (the deployment's pseudonym key).
CsrfKeyDep = Annotated[bytes, Depends(_part("pseudonym_key"))]
_IdempotencyDep = Annotated[IdempotencyStore, Depends(_part("idempotency"))]


async def _idempotency_store(store: _IdempotencyDep) -> IdempotencyStore:
    return store


def idempotent(principal_dependency: Callable[..., Any]) -> Callable[..., Any]:
    """`gateway.web.idempotency.idempotent` over the app's idempotency store."""
    return _idempotent(principal_dependency, _idempotency_store)


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
    return parse_bearer(request.headers.get("authorization"))


def parse_bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization` header's value, for a caller that has read the header itself."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate_client(request: Request, bearer: BearerAuthenticator, token: str | None) -> ClientPrincipal:
    """The OAuth client behind a valid, unrevoked bearer token whose registration is still active."""
    if token is None:
        raise Problem(
            401,
            "unauthorized",
            "This route needs a bearer access token.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    try:
        claims = bearer.claims(token)
    except AccessTokenError as exc:
        raise _invalid_token(str(exc).split(":")[0]) from exc
    result = await bearer.current(claims)  # from memory when fresh, else one shared read off the event loop
    client = result.client
    if result.revoked:
        raise _invalid_token("revoked")
    if client is None or client.disabled:
        raise _invalid_token("client disabled")
    principal = _principal_of(claims, client)
    request.state.principal = principal.actor
    return principal


# The principal of a token's verified claims and its client's registration, kept while the authenticator hands
# out those very objects (it caches both; both are immutable): building it anew on every request cost a third of
# the whole check. Keyed by the claims' id, which the entry keeps alive, so no other object can take that id.
_PRINCIPALS: dict[int, tuple[dict[str, Any], RegisteredClient, ClientPrincipal]] = {}
PRINCIPALS_KEPT = 4096


def _principal_of(claims: dict[str, Any], client: RegisteredClient) -> ClientPrincipal:
    kept = _PRINCIPALS.get(id(claims))
    if kept is not None and kept[0] is claims and kept[1] is client:
        return kept[2]
    principal = ClientPrincipal(
        client_id=client.client_id,
        organization=client.organization,
        roles=client.roles,
        scopes=frozenset(str(claims.get("scope") or "").split()) & client.scopes,
        allowed_purposes=client.allowed_purposes,
        jurisdiction=client.jurisdiction,
        token_id=str(claims["jti"]),
        token_expires_at=int(claims["exp"]),
    )
    if len(_PRINCIPALS) >= PRINCIPALS_KEPT:
        _PRINCIPALS.clear()
    _PRINCIPALS[id(claims)] = (claims, client, principal)
    return principal


async def current_client(
    request: Request,
    bearer: BearerDep,
    _documented: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> ClientPrincipal:
    """`_documented` puts the bearer scheme in the OpenAPI description; the token is read by `bearer_token`, the
    one parser every client route (the proxy's direct ones included) goes through."""
    return await authenticate_client(request, bearer, bearer_token(request))


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
    sessions: SessionsDep,
    customers: CustomersDep,
    session: str | None = Security(session_scheme),
) -> CustomerPrincipal:
    """The customer of a live session cookie."""
    customer_id = sessions.resolve(session) if session else None
    customer = customers.get(customer_id) if customer_id else None
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
require_metrics_reader = require_client(scopes=["metrics"], roles=[Role.AUDITOR, Role.ADMIN])
PROXY_GRANTS = Grants(frozenset({"proxy"}), frozenset({Role.CRM}))
require_zk_client = require_client(scopes=["zk"], roles=[Role.CRM])
