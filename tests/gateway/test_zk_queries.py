"""Predicate queries in process: the response verifies offline and any single-byte change to its evidence
breaks it; refusals name their reason; a covering checkpoint is reused rather than one signed per query;
customers register their own values and admins ingest from the source system over the field map."""

from __future__ import annotations

import asyncio
import base64
import copy
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal, Role
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import demo_upstreams
from gateway.rights.erasure import process_erasure, request_erasure
from gateway.runtime import Runtime
from gateway.upstream import UpstreamRegistry
from gateway.web.problems import Problem
from gateway.zk import ResponseVerificationError, verify_response
from gateway.zk.queries import ZkQuery, answer_query, ingest, register
from zkp import Predicate

PURPOSE = "financial_product_recommendation"
SUBJECT = "cust-1001"


def principal(
    organization: str = "acme-finance", purposes: frozenset[str] = frozenset({PURPOSE, "marketing"})
) -> ClientPrincipal:
    return ClientPrincipal(
        "finance-crm", organization, frozenset({Role.CRM}), frozenset({"zk"}), purposes, "CN", "j", 0
    )


def ask(
    runtime: Runtime,
    attribute: str,
    predicate: dict[str, Any],
    who: ClientPrincipal | None = None,
    purpose: str = PURPOSE,
) -> Any:
    query = ZkQuery(SUBJECT, attribute, predicate, purpose, secrets.token_urlsafe(18))
    return asyncio.run(answer_query(runtime.zk_queries, who or principal(), query))


def enrol(runtime: Runtime, subject: str = SUBJECT, customer_type: str = "standard") -> CustomerPrincipal:
    return runtime.customers.create(
        username=f"user-{subject}",
        password="correct horse battery staple",
        display_name=subject,
        jurisdiction="CN",
        customer_type=customer_type,
        source_subject=subject,
    )


@pytest.fixture
def customer(runtime: Runtime) -> CustomerPrincipal:
    return enrol(runtime)


@pytest.fixture
def allowed(runtime: Runtime, customer: CustomerPrincipal) -> Runtime:
    runtime.policies.consents.grant(
        subject_id=customer.customer_id,
        purposes=[PURPOSE],
        categories=["financial.income"],
        recipients=["org:acme-finance"],
        jurisdiction="CN",
        actor="admin:test",
        separate=True,
    )
    spec = runtime.zk.registry.get("annual_income_cents")
    runtime.zk.anchorer.anchor(
        runtime.subject_pseudonym(customer.customer_id),
        SUBJECT,
        spec,
        42_000_000,
        actor="t",
        source="t",
        as_of=datetime.now(UTC).date(),
    )
    return runtime


def log_keys(runtime: Runtime) -> list[str]:
    return list(runtime.checkpoints.verifier_keys)


def test_an_answer_verifies_offline_and_names_its_epoch(allowed: Runtime) -> None:
    document = ask(allowed, "annual_income_cents", {"op": ">=", "operands": [30_000_000]})
    verified = verify_response(
        document,
        log_keys(allowed),
        nonce=document["context"]["nonce"],
        client_id="finance-crm",
        purpose=PURPOSE,
        subject=SUBJECT,
        attribute="annual_income_cents",
        predicate=Predicate.from_json({"op": ">=", "operands": [30_000_000]}),
    )
    assert verified.holds and verified.epoch == 1
    assert document["access"]["decision"]["rule"] == "finance-income-predicate"
    assert document["access"]["decision"]["reasons"] == ["matrix_allow", "consent"]


def test_a_covering_checkpoint_is_reused_not_signed_per_query(allowed: Runtime) -> None:
    ask(allowed, "annual_income_cents", {"op": ">=", "operands": [1]})
    published = len(allowed.ledger.checkpoints())
    for bound in (2, 3):
        ask(allowed, "annual_income_cents", {"op": ">=", "operands": [bound]})
    assert len(allowed.ledger.checkpoints()) == published


@pytest.fixture
def evidence(allowed: Runtime) -> Iterator[tuple[dict[str, Any], list[str]]]:
    yield ask(allowed, "annual_income_cents", {"op": "<", "operands": [10_000_000]}), log_keys(allowed)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])  # evidence is read-only
@given(data=st.data())
def test_any_single_byte_change_to_the_evidence_is_refused(
    evidence: tuple[dict[str, Any], list[str]], data: st.DataObject
) -> None:
    document, keys = evidence
    field = data.draw(st.sampled_from(["entry", "salt", "subject_salt", "proof", "node"]))
    tampered = copy.deepcopy(document)
    holder, key = {
        "entry": (tampered["anchor"], "entry"),
        "salt": (tampered["anchor"], "salt"),
        "subject_salt": (tampered["anchor"], "subject_salt"),
        "node": (tampered["anchor"]["inclusion_proof"], 0),
        "proof": (tampered["answer"], "proof"),
    }[field]
    urlsafe = field == "proof"
    raw = bytearray(base64.urlsafe_b64decode(holder[key] + "==") if urlsafe else base64.b64decode(holder[key]))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    encoded = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=") if urlsafe else base64.b64encode(bytes(raw))
    holder[key] = encoded.decode()
    with pytest.raises(ResponseVerificationError):
        verify_response(tampered, keys)


def test_an_answer_moved_to_another_subject_is_refused(evidence: tuple[dict[str, Any], list[str]]) -> None:
    document, keys = evidence
    moved = {**document, "subject": "cust-1002"}
    with pytest.raises(ResponseVerificationError, match="another subject"):
        verify_response(moved, keys)


def test_an_expired_context_is_refused(evidence: tuple[dict[str, Any], list[str]]) -> None:
    document, keys = evidence
    with pytest.raises(ResponseVerificationError, match="expired"):
        verify_response(document, keys, now=datetime.now(UTC) + timedelta(hours=1))


@pytest.mark.parametrize(
    ("who", "status", "reason"),
    [
        (principal(organization="stuttgart-rnd"), 403, "no_matching_rule"),
        (principal(organization="Unknown Org Ltd."), 403, "unknown_recipient"),
        (principal(purposes=frozenset({"marketing"})), 403, None),
    ],
)
def test_refusals_are_problems_with_their_reason(
    allowed: Runtime, who: ClientPrincipal, status: int, reason: str | None
) -> None:
    with pytest.raises(Problem) as caught:
        ask(allowed, "annual_income_cents", {"op": ">=", "operands": [1]}, who)
    assert caught.value.status == status
    assert caught.value.extensions.get("reason") == reason


def test_without_consent_the_reason_is_no_consent(runtime: Runtime, customer: CustomerPrincipal) -> None:
    with pytest.raises(Problem) as caught:
        ask(runtime, "annual_income_cents", {"op": ">=", "operands": [1]})
    assert caught.value.extensions["reason"] == "no_consent"


def test_an_unenrolled_subject_gets_the_one_not_found_answer(runtime: Runtime) -> None:
    with pytest.raises(Problem) as caught:
        ask(runtime, "annual_income_cents", {"op": ">=", "operands": [1]})
    assert (caught.value.status, caught.value.kind) == (404, "not-found")


def test_a_minor_is_refused_by_the_finance_no_minors_rule(runtime: Runtime) -> None:
    minor = enrol(runtime, "cust-1004", customer_type="minor")
    runtime.policies.consents.grant(
        subject_id=minor.customer_id,
        purposes=[PURPOSE],
        categories=["profile.birth_date"],
        recipients=["org:acme-finance"],
        jurisdiction="CN",
        actor="admin:test",
        given_by="guardian",
        separate=True,
    )
    query = ZkQuery("cust-1004", "age", {"op": ">=", "operands": [18]}, PURPOSE, secrets.token_urlsafe(18))
    with pytest.raises(Problem) as caught:
        asyncio.run(answer_query(runtime.zk_queries, principal(), query))
    assert caught.value.extensions["reason"] == "matrix_deny"


def test_a_customer_registers_a_registrable_value_only(allowed: Runtime, customer: CustomerPrincipal) -> None:
    city = allowed.zk.registry.get("city")
    result = register(allowed.zk_queries, customer, city, "Shanghai", actor="customer:li")
    assert result.created and result.anchor.source == "customer"
    allowed.policies.consents.grant(
        subject_id=customer.customer_id,
        purposes=["marketing"],
        categories=["location.city"],
        recipients=["org:bright-marketing"],
        jurisdiction="CN",
        actor="customer:li",
    )
    marketing = principal(organization="bright-marketing")
    document = ask(allowed, "city", {"op": "in", "operands": ["Shanghai", "Beijing"]}, marketing, "marketing")
    assert document["holds"] is True
    assert document["anchor"]["payload"]["source"] == "customer"
    with pytest.raises(Problem) as caught:
        register(allowed.zk_queries, customer, allowed.zk.registry.get("age"), 30, actor="customer:li")
    assert caught.value.kind == "not-customer-registrable"


def test_ingestion_reads_only_the_attribute_category_through_the_field_map(
    runtime: Runtime, customer: CustomerPrincipal, free_port: int
) -> None:
    stranger = enrol(runtime, "cust-9999")
    with BackgroundServer(create_vehicle_cloud_app(), port=free_port) as cloud:
        runtime.upstreams = UpstreamRegistry(demo_upstreams(cloud.url))

        async def run() -> list[Any]:
            try:
                results = []
                for attribute in ("fault_code", "annual_income_cents", "city"):
                    spec = runtime.zk.registry.get(attribute)
                    results.append(await ingest(runtime.zk_queries, customer, spec, actor="admin:t"))
                city = runtime.zk.registry.get("city")
                results.append(await ingest(runtime.zk_queries, customer, city, actor="a"))
                return results
            finally:
                await runtime.upstreams.aclose()

        results = asyncio.run(run())
        with pytest.raises(Problem) as caught:
            asyncio.run(ingest(runtime.zk_queries, stranger, runtime.zk.registry.get("city"), actor="a"))
    values = [runtime.zk.anchorer.opening(r.anchor).value for r in results]
    assert values == ["P0301", 42_000_000, "Shanghai", "Shanghai"]
    assert [r.created for r in results] == [True, True, True, False]
    assert all(r.anchor.source == "upstream:vehicle-cloud" for r in results)
    assert caught.value.status == 404


def test_the_http_routes_are_wired_with_their_roles(runtime: Runtime) -> None:
    with TestClient(create_app(runtime.settings, runtime=runtime)) as http:
        assert http.post("/v1/zk/queries", json={}).status_code == 401
        assert http.get("/v1/zk/attributes").status_code == 401
        assert http.post("/v1/zk/anchors", json={"subject": SUBJECT}).status_code == 401
        assert http.put("/v1/me/zk/attributes/city", json={"value": "Shanghai"}).status_code == 401


def test_erasure_forgets_the_sealed_openings_and_later_queries_find_nothing(allowed: Runtime) -> None:
    customer = allowed.customers.by_source_subject(SUBJECT)
    assert customer is not None
    request = request_erasure(allowed.erasures, customer)
    assert asyncio.run(process_erasure(allowed.erasures, customer, request["request_id"]))["status"] == "completed"
    assert allowed.zk.anchors.latest(allowed.subject_pseudonym(customer.customer_id), "annual_income_cents") is None
