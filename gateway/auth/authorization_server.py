"""The OAuth 2.0 authorization server: authlib's machinery, wired to our client registry and key ring.

authlib ships server integrations for Flask and Django only; this module is the small Starlette-side
adapter (request in, `(status, body, headers)` out) plus the grant and endpoints we support:
client credentials (RFC 6749 §4.4), `client_secret_basic`, `client_secret_post` (RFC 6749 §2.3.1) and
`private_key_jwt` (RFC 7523) client authentication, RFC 9068 tokens, introspection (RFC 7662) and revocation (RFC 7009).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from gateway.auth.clients import ClientRegistry, RegisteredClient
from gateway.auth.principals import Scope
from gateway.auth.rfc7523 import METHOD as PRIVATE_KEY_JWT
from gateway.auth.rfc7523 import PrivateKeyJWT
from gateway.auth.rfc9068 import AccessTokenError, AccessTokenGenerator, AccessTokenVerifier
from gateway.auth.tokens import RevocationList

log = structlog.get_logger("gateway.oauth")

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT]
SUPPORTED_SCOPES = [s.value for s in Scope]


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth request whose form body was already read by the async route."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


@dataclass
class OAuthResult:
    """What an endpoint answered: a success body, or the OAuth error for the problem+json layer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: OAuth2Error | None = None


class ScopedClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """RFC 6749 §4.4, refusing (not silently narrowing) a scope the client was not granted."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set((self.request.payload.scope or "").split())
        client: RegisteredClient = self.request.client
        if requested - client.scopes:
            raise InvalidScopeError(f"The client may not request: {' '.join(sorted(requested - client.scopes))}")
        self.request.scope = client.get_allowed_scope(self.request.payload.scope)

    def create_token_response(self) -> tuple[int, Any, Any]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


@dataclass(frozen=True)
class TokenView:
    """A verified access token, as introspection and revocation handle it."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: RegisteredClient) -> bool:
        return bool(self.claims["client_id"] == client.client_id)

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= int(time.time())

    def is_revoked(self) -> bool:
        return self.revoked


class _TokenLookup:
    verifier: AccessTokenVerifier
    revocations: RevocationList

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenView | None:
        try:
            claims = self.verifier.verify(token_string, check_expiry=False)
        except AccessTokenError:
            return None
        return TokenView(claims, self.revocations.is_revoked(str(claims["jti"])))


class Introspection(_TokenLookup, IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662: a client may introspect its own tokens; an `admin` client any of ours."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def __init__(self, verifier: AccessTokenVerifier, revocations: RevocationList) -> None:
        super().__init__()
        self.verifier = verifier
        self.revocations = revocations

    def check_permission(self, token: TokenView, client: RegisteredClient, request: Any) -> bool:
        return token.check_client(client) or Scope.ADMIN in client.scopes

    def introspect_token(self, token: TokenView) -> dict[str, Any]:
        claims = token.claims
        return {
            "active": True,
            "token_type": "Bearer",
            "scope": claims.get("scope", ""),
            "client_id": claims["client_id"],
            "sub": claims["sub"],
            "aud": claims["aud"],
            "iss": claims["iss"],
            "exp": claims["exp"],
            "iat": claims["iat"],
            "jti": claims["jti"],
        }


class Revocation(_TokenLookup, RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: only the client a token was issued to may revoke it."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def __init__(self, verifier: AccessTokenVerifier, revocations: RevocationList) -> None:
        super().__init__()
        self.verifier = verifier
        self.revocations = revocations

    def revoke_token(self, token: TokenView, request: Any) -> None:
        claims = token.claims
        self.revocations.revoke(str(claims["jti"]), str(claims["client_id"]), int(claims["exp"]))


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        registry: ClientRegistry,
        generator: AccessTokenGenerator,
        verifier: AccessTokenVerifier,
        revocations: RevocationList,
        issuer: str,
        assertion_max_lifetime: int = 300,
    ) -> None:
        super().__init__(scopes_supported=SUPPORTED_SCOPES)
        self.registry = registry
        self.issuer = issuer
        self.register_token_generator("default", generator)
        self.register_client_auth_method(
            PRIVATE_KEY_JWT,
            PrivateKeyJWT(registry.engine, [issuer, f"{issuer}/oauth/token"], max_lifetime=assertion_max_lifetime),
        )
        self.register_grant(ScopedClientCredentialsGrant)
        self.register_endpoint(Introspection(verifier, revocations))
        self.register_endpoint(Revocation(verifier, revocations))

    def query_client(self, client_id: str) -> RegisteredClient | None:
        client = self.registry.get(client_id)
        return client if client and not client.disabled else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens are self-contained JWTs; issuance is only logged (never the token itself)."""
        log.info("token_issued", client_id=request.client.client_id, scope=token.get("scope"))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        log.debug("oauth_signal", signal=name)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if not isinstance(request, OAuth2Request):
            raise TypeError("the gateway hands authlib a prepared FormRequest")
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResult:
        return OAuthResult(status, dict(body or {}), dict(headers or []))

    def handle_error_response(self, request: Any, error: OAuth2Error) -> OAuthResult:
        status, body, headers = error(self.get_error_uri(request, error))
        return OAuthResult(status, dict(body), dict(headers or []), error=error)

    def token_uri(self) -> str:
        """The URI authlib checks for transport security: our public issuer, not the proxied hop."""
        return f"{self.issuer}/oauth/token"
