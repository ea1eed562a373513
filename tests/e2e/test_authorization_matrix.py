"""Every route × every kind of caller, over real HTTP: 401 when unauthenticated, 403 when the role or
scope is wrong, and a customer asking for another customer's record gets exactly the 404 of a record
that does not exist."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Actors

CALLERS = ("anonymous", "customer", "crm", "auditor", "admin")
PUBLIC = dict.fromkeys(CALLERS, 200)
CUSTOMER_ONLY = {"anonymous": 401, "customer": 200, "crm": 401, "auditor": 401, "admin": 401}


def auditors(success: int) -> dict[str, int]:
    return {"anonymous": 401, "customer": 401, "crm": 403, "auditor": success, "admin": success}


def admin_only(success: int) -> dict[str, int]:
    return {"anonymous": 401, "customer": 401, "crm": 403, "auditor": 403, "admin": success}


# (method, path, json body, expected status per caller). Admin writes use bodies that fail validation,
# so the matrix proves the role check without changing state; the 422 shows the admin got through.
ROUTES: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/healthz", None, PUBLIC),
    ("GET", "/readyz", None, PUBLIC),
    # Needs the `metrics` scope, which none of these callers holds (tests/e2e/test_metrics_access.py has one).
    ("GET", "/metrics", None, {"anonymous": 401, "customer": 401, "crm": 403, "auditor": 403, "admin": 403}),
    ("GET", "/.well-known/jwks.json", None, PUBLIC),
    ("GET", "/.well-known/oauth-authorization-server", None, PUBLIC),
    ("GET", "/v1/me", None, CUSTOMER_ONLY),
    ("GET", "/v1/customers/{own}", None, CUSTOMER_ONLY),
    ("GET", "/v1/customers/{other}", None, {**CUSTOMER_ONLY, "customer": 404}),
    ("GET", "/v1/customers/00000000-0000-0000-0000-000000000000", None, {**CUSTOMER_ONLY, "customer": 404}),
    ("GET", "/v1/admin/clients", None, admin_only(200)),
    ("GET", "/v1/admin/clients/crm", None, admin_only(200)),
    ("GET", "/v1/admin/clients/no-such-client", None, admin_only(404)),
    ("POST", "/v1/admin/clients", {}, admin_only(422)),
    ("PATCH", "/v1/admin/clients/crm", {}, admin_only(422)),
    ("POST", "/v1/admin/clients/no-such-client/secret", None, admin_only(404)),
    ("GET", "/v1/admin/customers", None, admin_only(200)),
    ("POST", "/v1/admin/customers", {}, admin_only(422)),
    ("POST", "/v1/admin/keys/no-such-ring/rotate", None, admin_only(422)),
    ("GET", "/v1/ledger/checkpoint", None, auditors(200)),
    ("GET", "/v1/ledger/keys", None, auditors(200)),
    ("GET", "/v1/ledger/entries?start=0&end=10", None, auditors(200)),
    ("GET", "/v1/ledger/proofs/inclusion?index=0&tree_size=99999", None, auditors(404)),
    ("GET", "/v1/ledger/proofs/consistency?first=0&second=99999", None, auditors(404)),
    ("GET", "/v1/ledger/events?subject=nobody", None, auditors(200)),
]


@pytest.fixture(scope="module")
def callers(actors: Actors) -> dict[str, httpx.Client]:
    gateway = actors.gateway
    return {
        "anonymous": gateway.client(),
        "customer": gateway.customer_session("li.wei"),
        "crm": gateway.client(headers={"Authorization": f"Bearer {actors.crm}"}),
        "auditor": gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"}),
        "admin": gateway.client(headers={"Authorization": f"Bearer {actors.admin}"}),
    }


@pytest.mark.parametrize(("method", "path", "body", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
@pytest.mark.parametrize("caller", CALLERS)
def test_route_admits_exactly_its_roles(
    actors: Actors,
    callers: dict[str, httpx.Client],
    caller: str,
    method: str,
    path: str,
    body: Any,
    expected: dict[str, int],
) -> None:
    url = path.format(own=actors.customer_id, other=actors.other_customer_id)
    response = callers[caller].request(method, url, json=body)
    assert response.status_code == expected[caller], response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["type"].startswith("https://consentry.dev/problems/")
    if response.status_code == 401:
        assert response.headers["www-authenticate"]
    if response.status_code == 403:
        assert problem["type"] in (
            "https://consentry.dev/problems/insufficient-scope",
            "https://consentry.dev/problems/forbidden",
        )


def test_another_customers_record_is_indistinguishable_from_a_missing_one(
    actors: Actors, callers: dict[str, httpx.Client]
) -> None:
    customer = callers["customer"]
    other = customer.get(f"/v1/customers/{actors.other_customer_id}")
    missing = customer.get("/v1/customers/00000000-0000-0000-0000-000000000000")

    def comparable(response: httpx.Response) -> dict[str, Any]:
        body = response.json()
        return {k: v for k, v in body.items() if k not in ("instance", "request_id")}

    assert other.status_code == missing.status_code == 404
    assert comparable(other) == comparable(missing)
    assert other.headers.keys() - {"x-request-id", "date"} == missing.headers.keys() - {"x-request-id", "date"}


def test_insufficient_scope_names_the_scope_in_www_authenticate(
    actors: Actors, callers: dict[str, httpx.Client]
) -> None:
    """RFC 6750 §3.1: a token without the needed scope gets 403 with error="insufficient_scope"."""
    response = callers["auditor"].get("/v1/admin/clients")
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="admin"' in response.headers["www-authenticate"]


def test_a_token_narrowed_to_one_scope_cannot_use_the_others(actors: Actors) -> None:
    gateway = actors.gateway
    ledger_only = gateway.token("admin", scope="ledger:read")
    with gateway.client(headers={"Authorization": f"Bearer {ledger_only}"}) as http:
        assert http.get("/v1/admin/clients").status_code == 403


def test_garbage_and_foreign_bearer_tokens_are_401_invalid_token(actors: Actors) -> None:
    gateway = actors.gateway
    head, payload, _sig = actors.admin.split(".")
    forged = f"{head}.{payload}.{'A' * 86}"
    for token in ("not-a-jwt", forged):
        with gateway.client(headers={"Authorization": f"Bearer {token}"}) as http:
            response = http.get("/v1/admin/clients")
        assert response.status_code == 401
        assert response.json()["type"] == "https://consentry.dev/problems/invalid-token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
