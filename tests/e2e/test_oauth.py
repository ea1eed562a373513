"""The OAuth 2.0 authorization server over real HTTP: client credentials (RFC 6749 §4.4) with
client_secret_basic, client_secret_post (RFC 6749 §2.3.1) and private_key_jwt (RFC 7523), RFC 9068 tokens,
RFC 8414 metadata, introspection (RFC 7662), revocation (RFC 7009) and key rotation."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from tests.e2e.conftest import Actors, Gateway


def assertion(key: ECKey, client_id: str, audience: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60, "iat": now, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def jwt_client_form(token_assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token_assertion,
        **extra,
    }


@pytest.fixture(scope="module")
def jwt_client(actors: Actors) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "crm-jwt-key-1"})
    actors.gateway.register(
        "crm-jwt",
        ["crm"],
        ["proxy"],
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    return "crm-jwt", key


def verify_with_published_jwks(gateway: Gateway, token: str) -> jwt.Token:
    with gateway.client() as http:
        jwks = http.get("/.well-known/jwks.json").json()
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])


def test_client_secret_basic_yields_an_rfc9068_access_token(actors: Actors) -> None:
    gateway = actors.gateway
    with gateway.client() as http:
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "proxy"},
            auth=("crm", gateway.secrets["crm"]),
        )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "proxy"
    assert body["expires_in"] > 0
    assert "refresh_token" not in body  # RFC 6749 §4.4.3
    token = verify_with_published_jwks(gateway, body["access_token"])
    assert token.header["typ"] == "at+jwt"  # RFC 9068 §2.1
    claims = token.claims
    assert claims["iss"] == gateway.base_url
    assert claims["aud"] == gateway.base_url
    assert claims["sub"] == claims["client_id"] == "crm"  # RFC 9068 §2.2: sub is the client without a user
    assert claims["scope"] == "proxy"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert len(claims["jti"]) >= 16
    assert claims["roles"] == ["crm"]


def test_without_a_scope_the_client_gets_every_scope_it_holds(actors: Actors) -> None:
    gateway = actors.gateway
    with gateway.client() as http:
        response = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("crm", gateway.secrets["crm"])
        )
    assert response.json()["scope"] == "proxy zk"


def test_private_key_jwt_authenticates_with_a_signed_assertion(actors: Actors, jwt_client: tuple[str, ECKey]) -> None:
    client_id, key = jwt_client
    gateway = actors.gateway
    with gateway.client() as http:
        response = http.post(
            "/oauth/token", data=jwt_client_form(assertion(key, client_id, f"{gateway.base_url}/oauth/token"))
        )
    assert response.status_code == 200, response.text
    claims = verify_with_published_jwks(gateway, response.json()["access_token"]).claims
    assert claims["client_id"] == client_id


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("wrong audience (RFC 7523 §3 rule 3)", {"aud": "https://someone-else.example"}),
        ("expired (RFC 7523 §3 rule 4)", {"exp": int(time.time()) - 3600}),
        ("issuer differs from subject (RFC 7523 §3 rules 1-2)", {"iss": "somebody-else"}),
    ],
)
def test_private_key_jwt_rejects_bad_assertions(
    actors: Actors, jwt_client: tuple[str, ECKey], case: str, overrides: dict[str, Any]
) -> None:
    client_id, key = jwt_client
    gateway = actors.gateway
    with gateway.client() as http:
        response = http.post(
            "/oauth/token", data=jwt_client_form(assertion(key, client_id, gateway.base_url, **overrides))
        )
    assert response.status_code == 401, case
    assert response.json()["error"] == "invalid_client"


def test_private_key_jwt_assertions_cannot_be_replayed(actors: Actors, jwt_client: tuple[str, ECKey]) -> None:
    client_id, key = jwt_client
    gateway = actors.gateway
    signed = assertion(key, client_id, gateway.base_url)
    with gateway.client() as http:
        assert http.post("/oauth/token", data=jwt_client_form(signed)).status_code == 200
        replay = http.post("/oauth/token", data=jwt_client_form(signed))
    assert replay.status_code == 401
    assert replay.json()["type"] == "https://consentry.dev/problems/invalid-client"


def test_an_assertion_signed_by_another_key_is_refused(actors: Actors, jwt_client: tuple[str, ECKey]) -> None:
    client_id, _ = jwt_client
    intruder = ECKey.generate_key("P-256", parameters={"kid": "crm-jwt-key-1"})
    with actors.gateway.client() as http:
        response = http.post(
            "/oauth/token", data=jwt_client_form(assertion(intruder, client_id, actors.gateway.base_url))
        )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "auth",
    [("crm", "wrong-secret"), ("no-such-client", "whatever"), None],
    ids=["wrong secret", "unknown client", "no credentials"],
)
def test_bad_client_credentials_are_401_problem_with_www_authenticate(actors: Actors, auth: Any) -> None:
    with actors.gateway.client() as http:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Basic ")
    problem = response.json()
    assert problem["type"] == "https://consentry.dev/problems/invalid-client"
    assert problem["error"] == "invalid_client"  # RFC 6749 §5.2 members for OAuth client libraries


def test_client_secret_post_authenticates_at_every_endpoint_that_takes_client_auth(actors: Actors) -> None:
    """RFC 6749 §2.3.1: client_id and client_secret in the form body, as many OAuth client libraries send them."""
    gateway = actors.gateway
    credentials = {"client_id": "crm", "client_secret": gateway.secrets["crm"]}
    with gateway.client() as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "proxy", **credentials})
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]
        assert verify_with_published_jwks(gateway, access_token).claims["client_id"] == "crm"
        introspected = http.post("/oauth/introspect", data={"token": access_token, **credentials})
        assert introspected.status_code == 200 and introspected.json()["active"] is True, introspected.text
        revoked = http.post("/oauth/revoke", data={"token": access_token, **credentials})
        assert revoked.status_code == 200, revoked.text
        after = http.post("/oauth/introspect", data={"token": access_token, **credentials})
    assert after.json() == {"active": False}


@pytest.mark.parametrize(
    ("form", "basic", "status"),
    [
        ({"client_id": "crm", "client_secret": "wrong-secret"}, False, 401),
        ({"client_id": "no-such-client", "client_secret": "whatever"}, False, 401),
        ({"client_id": "crm-jwt", "client_secret": "guess"}, False, 401),
        ({"client_id": "crm", "client_secret": "<crm>"}, True, 400),
    ],
    ids=["wrong secret", "unknown client", "a private_key_jwt client", "secret in header and body"],
)
def test_client_secret_post_refuses_bad_or_doubled_credentials(
    actors: Actors, jwt_client: tuple[str, ECKey], form: dict[str, str], basic: bool, status: int
) -> None:
    secret = actors.gateway.secrets["crm"]
    data = {"grant_type": "client_credentials", **{k: v.replace("<crm>", secret) for k, v in form.items()}}
    with actors.gateway.client() as http:
        response = http.post("/oauth/token", data=data, auth=("crm", secret) if basic else None)
    assert response.status_code == status, response.text
    assert response.json()["error"] == ("invalid_client" if status == 401 else "invalid_request")


def test_a_client_cannot_use_the_other_authentication_method(actors: Actors, jwt_client: tuple[str, ECKey]) -> None:
    with actors.gateway.client() as http:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("crm-jwt", "guess"))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("form", "error", "status"),
    [
        ({"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope", 400),
        ({"grant_type": "client_credentials", "scope": "no-such-scope"}, "invalid_scope", 400),
        ({"grant_type": "password", "username": "x", "password": "y"}, "unsupported_grant_type", 400),
    ],
)
def test_token_request_errors_follow_rfc6749_section_5_2(
    actors: Actors, form: dict[str, str], error: str, status: int
) -> None:
    with actors.gateway.client() as http:
        response = http.post("/oauth/token", data=form, auth=("crm", actors.gateway.secrets["crm"]))
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["type"] == f"https://consentry.dev/problems/{error.replace('_', '-')}"


def test_repeated_parameters_are_invalid_request(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post(
            "/oauth/token",
            content="grant_type=client_credentials&scope=proxy&scope=zk",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=("crm", actors.gateway.secrets["crm"]),
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_endpoint_takes_only_form_bodies(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=("crm", "x"))
    assert response.status_code == 415
    assert response.json()["type"] == "https://consentry.dev/problems/unsupported-media-type"


def test_server_metadata_follows_rfc8414(actors: Actors) -> None:
    base = actors.gateway.base_url
    with actors.gateway.client() as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == base
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert metadata["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert metadata["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    methods = {"client_secret_basic", "client_secret_post", "private_key_jwt"}
    assert set(metadata["token_endpoint_auth_methods_supported"]) == methods
    assert set(metadata["introspection_endpoint_auth_methods_supported"]) == methods
    assert set(metadata["revocation_endpoint_auth_methods_supported"]) == methods
    assert {"proxy", "zk", "ledger:read", "admin"} <= set(metadata["scopes_supported"])


def test_introspection_reports_active_tokens_and_hides_foreign_ones(actors: Actors) -> None:
    gateway = actors.gateway
    crm_token = gateway.token("crm")
    with gateway.client() as http:
        own = http.post("/oauth/introspect", data={"token": crm_token}, auth=("crm", gateway.secrets["crm"])).json()
        foreign = http.post(
            "/oauth/introspect", data={"token": actors.auditor}, auth=("crm", gateway.secrets["crm"])
        ).json()
        by_admin = http.post(
            "/oauth/introspect", data={"token": crm_token}, auth=("admin", gateway.secrets["admin"])
        ).json()
        garbage = http.post("/oauth/introspect", data={"token": "garbage"}, auth=("crm", gateway.secrets["crm"])).json()
        unauthenticated = http.post("/oauth/introspect", data={"token": crm_token})
    assert own["active"] is True
    assert own["client_id"] == "crm"
    assert own["scope"] == "proxy zk"
    assert foreign == {"active": False}
    assert by_admin["active"] is True
    assert garbage == {"active": False}
    assert unauthenticated.status_code == 401


def test_revoked_tokens_are_refused_and_introspect_inactive(actors: Actors) -> None:
    gateway = actors.gateway
    token = gateway.token("admin")
    with gateway.client(headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/v1/admin/clients").status_code == 200
        # RFC 7009 §2.1: only the client the token was issued to may revoke it.
        stranger = http.post("/oauth/revoke", data={"token": token}, auth=("crm", gateway.secrets["crm"]))
        assert stranger.status_code == 400
        assert http.get("/v1/admin/clients").status_code == 200
        revoked = http.post("/oauth/revoke", data={"token": token}, auth=("admin", gateway.secrets["admin"]))
        assert revoked.status_code == 200
        again = http.post("/oauth/revoke", data={"token": token}, auth=("admin", gateway.secrets["admin"]))
        assert again.status_code == 200  # RFC 7009 §2.2: revoking twice is fine
        refused = http.get("/v1/admin/clients")
        introspected = http.post("/oauth/introspect", data={"token": token}, auth=("admin", gateway.secrets["admin"]))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert introspected.json() == {"active": False}


def test_key_rotation_keeps_earlier_tokens_valid(actors: Actors) -> None:
    gateway = actors.gateway
    before = gateway.token("admin")
    old_kid = verify_with_published_jwks(gateway, before).header["kid"]
    with gateway.client(headers={"Authorization": f"Bearer {before}"}) as http:
        rotated = http.post("/v1/admin/keys/token/rotate")
        assert rotated.status_code == 200
        new_kid = rotated.json()["kid"]
        assert new_kid != old_kid
        kids = {key["kid"] for key in http.get("/.well-known/jwks.json").json()["keys"]}
        assert {old_kid, new_kid} <= kids
        assert http.get("/v1/admin/clients").status_code == 200  # the token signed by the old key
    after = gateway.token("admin")
    assert verify_with_published_jwks(gateway, after).header["kid"] == new_kid


def test_disabling_a_client_stops_its_tokens_at_once(actors: Actors) -> None:
    gateway = actors.gateway
    gateway.register("crm-temp", ["crm"], ["proxy"])
    token = gateway.token("crm-temp")
    with gateway.client(headers={"Authorization": f"Bearer {actors.admin}"}) as admin:
        assert admin.patch("/v1/admin/clients/crm-temp", json={"disabled": True}).json()["disabled"] is True
    with gateway.client() as http:
        assert (
            http.post("/oauth/introspect", data={"token": token}, auth=("admin", gateway.secrets["admin"])).status_code
            == 200
        )
        refused = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("crm-temp", gateway.secrets["crm-temp"])
        )
    assert refused.status_code == 401
    with gateway.client(headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/v1/admin/clients").status_code == 401


def test_admin_registers_a_client_whose_secret_works_once_shown(actors: Actors) -> None:
    gateway = actors.gateway
    with gateway.client(headers={"Authorization": f"Bearer {actors.admin}"}) as admin:
        created = admin.post(
            "/v1/admin/clients",
            json={
                "client_id": "finance-partner",
                "name": "Finance partner",
                "organization": "acme-finance",
                "roles": ["crm"],
                "scopes": ["proxy"],
                "allowed_purposes": ["financial_product_recommendation"],
                "jurisdiction": "CN",
            },
        )
        assert created.status_code == 201, created.text
        secret = created.json()["client_secret"]
        listed = admin.get("/v1/admin/clients/finance-partner").json()
        duplicate = admin.post(
            "/v1/admin/clients",
            json={
                "client_id": "finance-partner",
                "name": "x",
                "organization": "acme-finance",
                "roles": ["crm"],
                "scopes": ["proxy"],
                "jurisdiction": "CN",
            },
        )
        bad_scope = admin.post(
            "/v1/admin/clients",
            json={"name": "x", "organization": "y", "roles": ["crm"], "scopes": ["admin"], "jurisdiction": "CN"},
        )
    assert "client_secret" not in listed
    assert listed["allowed_purposes"] == ["financial_product_recommendation"]
    assert duplicate.status_code == 409
    assert bad_scope.status_code == 422
    assert "needs one of the roles" in bad_scope.json()["detail"]
    with gateway.client() as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("finance-partner", secret))
    assert token.status_code == 200
