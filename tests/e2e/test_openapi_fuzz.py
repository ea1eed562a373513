"""Issue 17: schemathesis over every operation of the committed OpenAPI document, against a real gateway, as each
role (admin, auditor and CRM clients, a signed-in customer, and nobody).

The promise checked: no answer is a server error, and every status code and content type an operation answers
is one its OpenAPI entry documents (so malformed input is a documented 4xx problem, never an undocumented shape).
The number of examples per operation and role is bounded (`FUZZ_EXAMPLES`), and generation is derandomised, so
a run is repeatable and its cost fixed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from gateway.auth.customers import SessionStore
from gateway.store.database import create_db_engine
from tests.e2e.conftest import Gateway, _free_port, _stop, serve_on

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
FUZZ_EXAMPLES = int(os.environ.get("CONSENTRY_FUZZ_EXAMPLES", "3"))
ROLES = ("nobody", "admin", "auditor", "crm", "customer")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]

schema = schemathesis.openapi.from_path(OPENAPI)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, dict[str, dict[str, str]]]]:
    """A gateway of its own (fuzzed writes must not disturb other tests) and the request headers of each role."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    gateway, _ = serve_on(tmp, port)
    try:
        gateway.register("admin", ["admin"], ["admin", "ledger:read"])
        gateway.register("auditor", ["auditor"], ["ledger:read"])
        gateway.register("crm", ["crm"], ["proxy", "zk"], allowed_purposes=["service-reminder"])
        customer_id = gateway.enrol("fuzz.customer")
        engine = create_db_engine(gateway.database_url)
        try:
            session, _ = SessionStore(engine, timedelta(hours=2)).create(customer_id)
        finally:
            engine.dispose()
        roles = {
            "nobody": {},
            "customer": {"Cookie": f"consentry_session={session}"},
            **{role: {"Authorization": f"Bearer {gateway.token(role)}"} for role in ("admin", "auditor", "crm")},
        }
        yield gateway, roles
    finally:
        _stop(gateway)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, role: str, fuzzed: tuple[Gateway, dict[str, dict[str, str]]]
) -> None:
    gateway, roles = fuzzed
    case.call_and_validate(base_url=gateway.base_url, headers=roles[role], checks=CHECKS, timeout=60)


def test_a_method_an_operation_does_not_have_is_405_with_allow(
    fuzzed: tuple[Gateway, dict[str, dict[str, str]]],
) -> None:
    """Every path of the document, asked with a method it does not list: 405 problem+json naming what it allows."""
    gateway, _ = fuzzed
    methods = {"get", "post", "put", "delete", "patch"}
    with gateway.client() as http:
        for path, item in schema.raw_schema["paths"].items():
            documented = {m for m in item if m in methods}
            missing = sorted(methods - documented)
            if not missing:
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            response = http.request(missing[0].upper(), concrete)
            assert response.status_code == 405, (path, missing[0], response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
            allowed = {m.strip().lower() for m in response.headers["allow"].split(",")}
            assert documented <= allowed, (path, allowed)
