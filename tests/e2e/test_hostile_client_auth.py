"""Hostile client authentication at the OAuth endpoints, over real HTTP, as an attacker without credentials.

Every malformed credential or assertion is a 401 problem+json `invalid_client` (RFC 6749 §5.2), never a 500
(which logged a traceback twice and dropped the keep-alive connection); client assertions live at most
`CONSENTRY_CLIENT_ASSERTION_MAX_LIFETIME_SECONDS` (so a replay guard never keeps a jti for years); and wrong
secrets at introspection and revocation run into the same kind of guessing limit as at the token endpoint.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.e2e.conftest import Gateway
from tests.e2e.test_credentials_api import assert_problem
from tests.e2e.test_oauth import assertion, jwt_client_form

ENDPOINTS = ("/oauth/token", "/oauth/introspect", "/oauth/revoke")


def _form(path: str, **fields: str) -> dict[str, str]:
    """The endpoint's own parameters plus `fields` (the client authentication under test)."""
    own = {"grant_type": "client_credentials"} if path == "/oauth/token" else {"token": "not-a-token"}
    return {**own, **fields}


def _invalid_client(response: httpx.Response) -> None:
    body = assert_problem(response, 401, "invalid-client")
    assert body["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers.get("connection", "").lower() != "close"


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _register_jwt_client(gateway: Gateway, key: ECKey) -> None:
    jwks = {"keys": [key.as_dict(private=False)]}
    gateway.register("crm-jwt", ["crm"], ["proxy"], auth_method="private_key_jwt", jwks=jwks)


@pytest.fixture
def hostile_world(start_gateway: Callable[..., Gateway]) -> tuple[Gateway, ECKey]:
    gateway = start_gateway()
    gateway.register("crm", ["crm"], ["proxy"])
    key = ECKey.generate_key("P-256", parameters={"kid": "crm-jwt-key-1"})
    _register_jwt_client(gateway, key)
    return gateway, key


def test_malformed_credentials_and_assertions_are_invalid_client_never_500(
    hostile_world: tuple[Gateway, ECKey],
) -> None:
    gateway, key = hostile_world
    now = int(time.time())
    basic_claims = {"iss": "crm", "sub": "crm", "aud": gateway.base_url, "exp": now + 60, "jti": uuid.uuid4().hex}
    with gateway.client() as http:
        for path in ENDPOINTS:
            # Basic credentials that are not UTF-8 (0xff 0xfe 0x3a 0x78: "\xff\xfe:x").
            _invalid_client(http.post(path, data=_form(path), headers={"Authorization": "Basic //46eA=="}))
            # Base64 that does not decode, and a Basic header with nothing after the scheme.
            _invalid_client(http.post(path, data=_form(path), headers={"Authorization": "Basic !!!"}))
            # An unsigned assertion naming a client that authenticates with a secret.
            _invalid_client(http.post(path, data=_form(path, **jwt_client_form(_unsigned(basic_claims)))))
            # Signed by the client's key, but expiring in the year 33658.
            signed = assertion(key, "crm-jwt", gateway.base_url, exp=10**12, jti=uuid.uuid4().hex)
            _invalid_client(http.post(path, data=_form(path, **jwt_client_form(signed))))
            # An assertion whose claims are not even JSON objects.
            _invalid_client(http.post(path, data=_form(path, **jwt_client_form("e30.W10.c2ln"))))
        assert http.get("/healthz").status_code == 200
    assert "Traceback" not in gateway.logs()


@pytest.mark.parametrize("lifetime", [3600, 10 * 365 * 86_400])
def test_an_assertion_may_live_at_most_five_minutes(hostile_world: tuple[Gateway, ECKey], lifetime: int) -> None:
    gateway, key = hostile_world
    with gateway.client() as http:
        too_long = assertion(key, "crm-jwt", gateway.base_url, exp=int(time.time()) + lifetime)
        _invalid_client(http.post("/oauth/token", data=jwt_client_form(too_long)))
        within = assertion(key, "crm-jwt", gateway.base_url, exp=int(time.time()) + 240)
        assert http.post("/oauth/token", data=jwt_client_form(within)).status_code == 200


def test_the_assertion_lifetime_cap_is_a_setting(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(client_assertion_max_lifetime_seconds="3600")
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    _register_jwt_client(gateway, key)
    with gateway.client() as http:
        hour = assertion(key, "crm-jwt", gateway.base_url, exp=int(time.time()) + 3000)
        assert http.post("/oauth/token", data=jwt_client_form(hour)).status_code == 200
        day = assertion(key, "crm-jwt", gateway.base_url, exp=int(time.time()) + 86_400)
        _invalid_client(http.post("/oauth/token", data=jwt_client_form(day)))


@pytest.mark.parametrize("path", ["/oauth/introspect", "/oauth/revoke"])
def test_guessing_a_secret_at_introspection_or_revocation_runs_into_429(
    hostile_world: tuple[Gateway, ECKey], path: str
) -> None:
    gateway, _ = hostile_world
    statuses = []
    with gateway.client() as http:
        for attempt in range(400):
            response = http.post(path, data={"token": "x"}, auth=("crm", f"guess-{attempt}"))
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[-1] == 429, f"{len(statuses)} wrong secrets and no 429"
        body = assert_problem(response, 429, "too-many-requests")
        assert body["status"] == 429 and int(response.headers["Retry-After"]) >= 1
        assert set(statuses[:-1]) == {401}
        # The right secret from the guesser's address waits too: guessing and using share that allowance ...
        assert http.post(path, data={"token": "x"}, auth=("crm", gateway.secrets["crm"])).status_code == 429
    # ... but the client itself, calling from elsewhere, is not locked out by the guesser.
    with gateway.client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.post(path, data={"token": "x"}, auth=("crm", gateway.secrets["crm"])).status_code == 200
