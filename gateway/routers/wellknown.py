"""Discovery documents under `/.well-known/`: the token-signing JWKS and RFC 8414 server metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.authorization_server import CLIENT_AUTH_METHODS, SUPPORTED_SCOPES
from gateway.dependencies import KeysDep, SettingsDep

router = APIRouter(tags=["discovery"])

_JWK_EXAMPLE: dict[str, Any] = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
    "alg": "ES256",
    "use": "sig",
}


class JWKS(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"keys": [_JWK_EXAMPLE]}]})
    keys: list[dict[str, str]] = Field(description="Every token-signing key, current and rotated out.")


def server_metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 §2 metadata of this authorization server."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "service_documentation": f"{issuer}/docs",
    }


@router.get(
    "/.well-known/jwks.json",
    summary="Token-signing keys (JWKS)",
    description="The public keys that sign access tokens (RFC 7517 JWK Set). Keys stay listed after a "
    "rotation so tokens signed before it still verify; pick the key by the token's `kid`.",
    response_model=JWKS,
)
def jwks(keys: KeysDep) -> JWKS:
    return JWKS(**keys.ring("token").public_jwks())


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    description="Endpoints, grant types, client authentication methods and scopes of this OAuth 2.0 "
    "authorization server.",
    responses={
        200: {
            "description": "RFC 8414 metadata.",
            "content": {"application/json": {"example": server_metadata("https://gateway.example.com")}},
        }
    },
)
def oauth_metadata(settings: SettingsDep) -> dict[str, Any]:
    return server_metadata(settings.issuer)
