"""The OAuth 2.0 endpoints: token (RFC 6749 §4.4), introspection (RFC 7662) and revocation (RFC 7009).

Bodies are `application/x-www-form-urlencoded` as the RFCs require. OAuth errors come back as
problem+json that also carries the RFC 6749 §5.2 members `error` and `error_description`, so a standard
OAuth client library reads them too.

The token endpoint is rate-limited before any credential is checked, per remote address and per (claimed
client_id, address), so failed client authentications spend allowance too and a secret cannot be guessed at
line rate; a client's own allowance is spent only once its credentials hold, so knowing a client_id is not
enough to deny that client its tokens (see `gateway.auth.rate_limits`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.auth.authorization_server import FormRequest, GatewayAuthorizationServer, OAuthResult
from gateway.auth.rate_limits import (
    GLOBAL_KEY,
    RequestLimits,
    TrustedProxies,
    enforce,
    enforce_unspent,
    request_address_key,
    reserve,
)
from gateway.dependencies import REALM, LimitsDep, MetricsDep, OAuthDep, SettingsDep
from gateway.settings import Settings
from gateway.web.problems import Problem, problem_response, with_problems
from ledger.b64 import b64url_decode

router = APIRouter(prefix="/oauth", tags=["oauth"])

FORM = "application/x-www-form-urlencoded"


def _form_body(properties: dict[str, Any], required: list[str], example: dict[str, str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {"type": "object", "properties": properties, "required": required},
                    "example": example,
                }
            },
        }
    }


_CLIENT_SECRET_POST = {
    "client_id": {"type": "string", "description": "For client_secret_post (RFC 6749 §2.3.1)."},
    "client_secret": {"type": "string", "description": "For client_secret_post, instead of HTTP Basic."},
}
_CLIENT_ASSERTION = {
    "client_assertion_type": {
        "type": "string",
        "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        "description": "For private_key_jwt (RFC 7523 §2.2).",
    },
    "client_assertion": {"type": "string", "description": "A JWT signed with the client's registered key."},
}
_TOKEN_PARAM = {
    "token": {"type": "string", "description": "The access token."},
    "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
}


async def _oauth_request(request: Request, oauth: GatewayAuthorizationServer) -> FormRequest:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise Problem(415, "unsupported-media-type", f"OAuth endpoints take {FORM} bodies.")
    form = await request.form()
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise Problem(400, "invalid-request", "OAuth parameters are plain strings, not files.")
        if name in fields:
            # RFC 6749 §3.2: request and response parameters MUST NOT be included more than once.
            raise Problem(400, "invalid-request", f"Parameter {name!r} is repeated.", error="invalid_request")
        fields[name] = value
    _refuse_undecodable_basic(request)
    if "client_secret" in fields and request.headers.get("authorization", "").lower().startswith("basic "):
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method in a request.
        raise Problem(
            400,
            "invalid-request",
            "Send the client secret once: in Basic auth or in the body.",
            error="invalid_request",
        )
    return FormRequest(request.method, oauth.token_uri(), request.headers, fields)


MALFORMED_BASIC = "\x00malformed-basic"  # not a possible client id


def _refuse_undecodable_basic(request: Request) -> None:
    """Basic credentials that are not base64 of UTF-8 are a failed client authentication (RFC 6749 §2.3.1
    encodes them as UTF-8), answered here: authlib would raise on the bytes instead of refusing them."""
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        description = "The Basic credentials are not base64-encoded UTF-8."
        raise Problem(
            401,
            "invalid-client",
            description,
            title="Unauthorized",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", error="invalid_client"'},
            error="invalid_client",
            error_description=description,
        ) from None


def _claimed_client_id(request: Request, form: dict[str, str]) -> str | None:
    """The client_id a token request claims, unverified (HTTP Basic user, `client_id`, or the client assertion's
    `iss`): what the limits count before the credentials are checked."""
    authorization = request.headers.get("authorization", "")
    scheme = authorization.partition(" ")[0]
    try:
        if scheme.lower() == "basic":
            # Decoded exactly as authlib authenticates it (percent-decoding included), so no spelling of one
            # client id gets a fresh allowance; what authlib cannot decode counts against one shared bucket.
            username, _ = extract_basic_authorization(request.headers)
            return username if username else MALFORMED_BASIC
        if "client_id" in form:
            return form["client_id"]
        assertion = form.get("client_assertion", "").split(".")
        if len(assertion) == 3:
            claims = json.loads(b64url_decode(assertion[1], canonical=False))
            issuer = claims.get("iss") if isinstance(claims, dict) else None
            return issuer if isinstance(issuer, str) else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return None


def _limit_token_requests(
    request: Request, limits: RequestLimits, trusted_proxies: TrustedProxies, form: dict[str, str]
) -> None:
    """The limits before the credentials are checked: counted per address and per (claimed client, address);
    the claimed client's own allowance is only looked at, so that an over-limit client is refused cheaply."""
    address = request_address_key(request, trusted_proxies)
    claimed = _claimed_client_id(request, form)
    if not claimed:
        enforce((limits.token_per_address, address), (limits.credential_checks_global, GLOBAL_KEY))
        return
    client_id = claimed[:200]
    enforce(
        (limits.token_per_address, address),
        (limits.token_per_client_address, (client_id, address)),
        (limits.credential_checks_global, GLOBAL_KEY),
    )
    enforce_unspent(limits.token_per_client, client_id)


def _respond(request: Request, result: OAuthResult) -> JSONResponse:
    if result.error is None:
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        return JSONResponse(result.body, status_code=result.status, headers=headers)
    error = result.error
    status = result.status
    headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
    if error.error == "invalid_client":
        # RFC 6749 §5.2 lets us answer 401 for every failed client authentication; we always do.
        status = 401
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", error="invalid_client"'
    extensions = {"error": error.error}
    if error.description:
        extensions["error_description"] = error.description
    return problem_response(
        request,
        status,
        error.error.replace("_", "-"),
        error.description or None,
        headers=headers,
        extensions=extensions,
    )


@router.post(
    "/token",
    summary="Issue an access token (client credentials)",
    description="RFC 6749 §4.4 client credentials grant. Authenticate with HTTP Basic (`client_secret_basic`), "
    "`client_id` and `client_secret` in the body (`client_secret_post`, RFC 6749 §2.3.1) or a signed JWT "
    "(`private_key_jwt`, RFC 7523). The token is an RFC 9068 JWT signed with ES256; `scope` "
    "defaults to every scope the client holds, and asking for one it does not hold is `invalid_scope`. Requests "
    "are rate-limited per remote address and per client_id at that address, failed client authentications "
    "included, and tokens issued per client_id: beyond the burst, 429 `too-many-requests` with Retry-After.",
    openapi_extra=_form_body(
        {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {"type": "string", "description": "Space-separated: proxy zk ledger:read admin."},
            **_CLIENT_SECRET_POST,
            **_CLIENT_ASSERTION,
        },
        ["grant_type"],
        {"grant_type": "client_credentials", "scope": "proxy"},
    ),
    responses=with_problems(
        {
            200: {
                "description": "The access token (RFC 6749 §5.1).",
                "content": {
                    "application/json": {
                        "example": {
                            "access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9...",
                            "token_type": "Bearer",
                            "expires_in": 900,
                            "scope": "proxy",
                        }
                    }
                },
            }
        },
        400,
        401,
        413,
        415,
        429,
    ),
)
async def token(
    oauth: OAuthDep, limits: LimitsDep, settings: SettingsDep, metrics: MetricsDep, request: Request
) -> JSONResponse:
    oauth_request = await _oauth_request(request, oauth)
    _limit_token_requests(request, limits, settings.trusted_proxies, oauth_request.form)
    result: OAuthResult = await run_in_threadpool(oauth.create_token_response, oauth_request)
    if result.error is None:
        client_id = oauth_request.client.client_id
        # Counted once the credentials hold, under the client they proved. Refused only when requests raced
        # past the check above or claimed another id than they proved; the token just made is then dropped.
        enforce((limits.token_per_client, client_id))
        metrics.tokens_issued.labels(client_id).inc()
    return _respond(request, result)


@router.post(
    "/introspect",
    summary="Introspect a token (RFC 7662)",
    description="Whether a token is active, with its claims. A client may introspect the tokens issued to it; "
    "a client with the `admin` scope any token. Expired, revoked, foreign or malformed tokens all answer "
    '`{"active": false}`. Failed client authentications are limited per remote address and per client_id at '
    "that address: beyond the burst, 429 `too-many-requests` with Retry-After.",
    openapi_extra=_form_body(
        {**_TOKEN_PARAM, **_CLIENT_SECRET_POST, **_CLIENT_ASSERTION}, ["token"], {"token": "eyJhbGciOiJFUzI1NiJ9..."}
    ),
    responses=with_problems(
        {
            200: {
                "description": "RFC 7662 §2.2 introspection response.",
                "content": {
                    "application/json": {
                        "examples": {
                            "active": {
                                "value": {
                                    "active": True,
                                    "client_id": "crm-dealer",
                                    "scope": "proxy",
                                    "sub": "crm-dealer",
                                    "exp": 1767225600,
                                    "iat": 1767224700,
                                    "iss": "https://gateway.example.com",
                                    "aud": "https://gateway.example.com",
                                    "jti": "6f1c…",
                                    "token_type": "Bearer",
                                }
                            },
                            "inactive": {"value": {"active": False}},
                        }
                    }
                },
            }
        },
        400,
        401,
        413,
        415,
        429,
    ),
)
async def introspect(oauth: OAuthDep, limits: LimitsDep, settings: SettingsDep, request: Request) -> JSONResponse:
    return await _guarded_endpoint("introspection", oauth, limits, settings, request)


async def _guarded_endpoint(
    name: str, oauth: GatewayAuthorizationServer, limits: RequestLimits, settings: Settings, request: Request
) -> JSONResponse:
    """Introspection and revocation authenticate the client on every call, so each is a chance to guess a
    secret: an allowance of failures per address and per (claimed client_id, address) is reserved before the
    check and given back when the client proves itself, so only failures count and parallel guesses cannot
    overrun it. A client calling from elsewhere is never refused because of a guesser."""
    oauth_request = await _oauth_request(request, oauth)
    address = request_address_key(request, settings.trusted_proxies)
    claimed = (_claimed_client_id(request, oauth_request.form) or "")[:200]
    reservation = reserve(
        (limits.client_auth_failures_per_address, address),
        (limits.client_auth_failures_per_client_address, (claimed, address)),
    )
    try:
        enforce((limits.credential_checks_global, GLOBAL_KEY))
    except Problem:
        reservation.release()
        raise
    result = await run_in_threadpool(oauth.create_endpoint_response, name, oauth_request)
    if result.error is None or result.error.error != "invalid_client":
        reservation.release()
    return _respond(request, result)


@router.post(
    "/revoke",
    summary="Revoke a token (RFC 7009)",
    description="Revokes an access token issued to the calling client; from then on the bearer check refuses "
    "it and introspection calls it inactive. Revoking an unknown or already revoked token also answers 200 "
    "(RFC 7009 §2.2). Failed client authentications are limited as at introspection (429 with Retry-After).",
    openapi_extra=_form_body(
        {**_TOKEN_PARAM, **_CLIENT_SECRET_POST, **_CLIENT_ASSERTION}, ["token"], {"token": "eyJhbGciOiJFUzI1NiJ9..."}
    ),
    responses=with_problems(
        {200: {"description": "Revoked (or nothing to revoke).", "content": {"application/json": {"example": {}}}}},
        400,
        401,
        413,
        415,
        429,
    ),
)
async def revoke(oauth: OAuthDep, limits: LimitsDep, settings: SettingsDep, request: Request) -> JSONResponse:
    return await _guarded_endpoint("revocation", oauth, limits, settings, request)
