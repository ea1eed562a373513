"""The customer consent API over real HTTP (issue 4 "Consent API (customer)", issue 5 receipts as revocation).

A real `consentry serve` on a free port; consent receipts are checked with a CredentialService reading the
server's own database and issuer key, exactly as the status-list endpoint would publish them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from credentials import CredentialService, IssuerKeyring, StatusListRepository
from gateway.runtime import key_store
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from ledger import Event, pseudonym
from ledger.store import Ledger
from tests.e2e.conftest import Actors

PROBLEM = "application/problem+json"


@pytest.fixture
def credential_service(actors: Actors) -> Iterator[CredentialService]:
    gateway = actors.gateway
    settings = Settings(data_dir=gateway.data_dir, issuer=gateway.base_url)
    engine = create_db_engine(gateway.database_url)
    try:
        yield CredentialService(
            keyring=IssuerKeyring.load_or_create(
                gateway.data_dir / "keys" / "credential-issuer.json", settings.issuer_did
            ),
            repository=StatusListRepository(engine),
            domain=settings.issuer_domain,
            status_url_prefix=f"{settings.issuer}/v1/status-lists",
        )
    finally:
        engine.dispose()


@contextmanager
def session(actors: Actors, name: str) -> Iterator[httpx.Client]:
    """A newly enrolled customer, signed in."""
    username = f"{name}.{uuid.uuid4().hex[:8]}"
    actors.gateway.enrol(username)
    with closing(actors.gateway.customer_session(username)) as http:
        yield http


def grant_body(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
    return {"notice": {"version": agreement["version"], "sha256": agreement["sha256"]}, "lang": "en", **fields}


def test_grant_then_withdraw_revokes_the_receipt(actors: Actors, credential_service: CredentialService) -> None:
    with session(actors, "receipt") as http:
        granted = http.post(
            "/v1/me/consents", json=grant_body(http, purposes=["repair_prediction"], categories=["vehicle"])
        )
        assert granted.status_code == 201, granted.text
        receipt_id = granted.json()["receipt_id"]
        downloaded = http.get(f"/v1/me/receipts/{receipt_id}")
        assert downloaded.headers["content-type"] == "application/vc"
        assert "attachment" in downloaded.headers["content-disposition"]
        credential = downloaded.json()
        assert credential_service.verify_credential(credential).verified
        assert [r["status"] for r in http.get("/v1/me/receipts").json()] == ["valid"]

        record_id = granted.json()["record"]["record_id"]
        withdrawn = http.post(f"/v1/me/consents/{record_id}/withdraw")
        assert withdrawn.status_code == 200 and withdrawn.json()["revoked_receipts"] == [receipt_id]
        result = credential_service.verify_credential(http.get(f"/v1/me/receipts/{receipt_id}").json())
        assert not result.verified
        assert [r["status"] for r in http.get("/v1/me/receipts").json()] == ["revoked"]
        assert [e["status"] for e in http.get("/v1/me/consents/history").json()] == ["given", "withdrawn"]
        again = http.post(f"/v1/me/consents/{record_id}/withdraw")
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


def test_a_retried_grant_with_the_same_idempotency_key_records_one_consent(actors: Actors) -> None:
    with session(actors, "idem") as http:
        body = grant_body(http, purposes=["marketing"], categories=["contact"])
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        first = http.post("/v1/me/consents", json=body, headers=headers)
        retry = http.post("/v1/me/consents", json=body, headers=headers)
        assert first.status_code == retry.status_code == 201
        assert retry.content == first.content and retry.headers["idempotent-replayed"] == "true"
        assert len(http.get("/v1/me/receipts").json()) == 1
        assert len(http.get("/v1/me/consents").json()["records"]) == 1
        record_id = first.json()["record"]["record_id"]
        key = {"Idempotency-Key": str(uuid.uuid4())}
        assert http.post(f"/v1/me/consents/{record_id}/withdraw", headers=key).status_code == 200
        replay = http.post(f"/v1/me/consents/{record_id}/withdraw", headers=key)
        assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"


def test_another_customers_records_and_receipts_answer_like_absent_ones(actors: Actors) -> None:
    with session(actors, "owner") as owner, session(actors, "other") as other:
        granted = owner.post("/v1/me/consents", json=grant_body(owner, purposes=["marketing"], categories=["contact"]))
        record_id, receipt_id = granted.json()["record"]["record_id"], granted.json()["receipt_id"]
        theirs = other.post(f"/v1/me/consents/{record_id}/withdraw")
        absent = other.post(f"/v1/me/consents/{uuid.uuid4()}/withdraw")
        assert theirs.status_code == absent.status_code == 404
        strip = lambda r: {k: v for k, v in r.json().items() if k not in ("instance", "request_id")}  # noqa: E731
        assert strip(theirs) == strip(absent)
        assert other.get(f"/v1/me/receipts/{receipt_id}").status_code == 404
        assert other.get("/v1/me/receipts").json() == []
        assert owner.get(f"/v1/me/receipts/{receipt_id}").status_code == 200
    with actors.gateway.client() as anonymous:
        assert anonymous.get("/v1/me/consents").status_code == 401


def test_sensitive_category_without_its_separate_confirmation_is_refused(actors: Actors) -> None:
    with session(actors, "sensitive") as http:
        refused = http.post(
            "/v1/me/consents", json=grant_body(http, purposes=["joint_rnd"], categories=["location.precise"])
        )
        assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["type"] == "https://consentry.dev/problems/separate-consent-required"
        assert problem["categories"] == ["location.precise"] and "location.precise" in problem["detail"]
        confirmed = http.post(
            "/v1/me/consents",
            json=grant_body(
                http, purposes=["joint_rnd"], categories=["location.precise"], separate=["location.precise"]
            ),
        )
        assert confirmed.status_code == 201 and confirmed.json()["record"]["separate"] is True
        stale = http.post(
            "/v1/me/consents",
            json={"purposes": ["marketing"], "categories": ["contact"], "notice": {"version": "0", "sha256": "0" * 64}},
        )
        assert stale.status_code == 409 and stale.json()["type"].endswith("/notice-changed")
        unknown = http.post("/v1/me/consents", json=grant_body(http, purposes=["astrology"], categories=["contact"]))
        assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM


def test_withdraw_all_marketing_in_one_call(actors: Actors) -> None:
    with session(actors, "marketing") as http:
        for purposes, categories in ((["marketing"], ["contact"]), (["repair_prediction"], ["vehicle"])):
            assert (
                http.post(
                    "/v1/me/consents", json=grant_body(http, purposes=purposes, categories=categories)
                ).status_code
                == 201
            )
        result = http.post("/v1/me/consents/withdraw-marketing", headers={"Idempotency-Key": str(uuid.uuid4())})
        assert result.status_code == 200 and result.json()["count"] == 1
        state = http.get("/v1/me/consents").json()
        statuses = {tuple(r["purposes"]): r["status"] for r in state["records"]}
        assert statuses == {("marketing",): "withdrawn", ("repair_prediction",): "given"}
        cells = {(c["recipient"], c["purpose"], c["category"]): c["state"] for c in state["cells"]}
        assert cells[("bright-marketing", "marketing", "contact.phone")] == "withdrawn"
        assert cells[("dealer-sh-4s", "repair_prediction", "vehicle.fault_codes")] == "given"
        assert cells[("dealer-sh-4s", "service_delivery", "vehicle.vin")] == "not_needed"


def test_accesses_list_only_my_access_events_and_filter_them(actors: Actors) -> None:
    gateway = actors.gateway
    username = f"accessed.{uuid.uuid4().hex[:8]}"
    customer_id = gateway.enrol(username)
    other_id = gateway.enrol(f"bystander.{uuid.uuid4().hex[:8]}")
    key = key_store(Settings(data_dir=gateway.data_dir, issuer=gateway.base_url)).secret("pseudonym")
    ledger = Ledger.open(gateway.database_url, create=False)
    old = datetime.now(UTC) - timedelta(days=40)
    try:
        for subject, recipient, purpose, when in (
            (customer_id, "dealer-sh-4s", "repair_prediction", None),
            (customer_id, "bright-marketing", "marketing", None),
            (customer_id, "dealer-sh-4s", "service_delivery", old),
            (other_id, "dealer-sh-4s", "repair_prediction", None),
        ):
            ledger.append(
                Event(
                    type="access.proxy",
                    actor="client:crm",
                    subject=pseudonym(key, subject),
                    payload={
                        "recipient": recipient,
                        "purpose": purpose,
                        "released": ["vehicle.vin"],
                        "withheld": {"identity.national_id": ["matrix_deny"]},
                        "upstream": "vehicle-cloud",
                    },
                    time=when,
                )
            )
    finally:
        ledger.close()
    with closing(gateway.customer_session(username)) as http:
        everything = http.get("/v1/me/accesses").json()
        assert [(a["recipient"], a["purpose"]) for a in everything] == [
            ("dealer-sh-4s", "repair_prediction"),
            ("bright-marketing", "marketing"),
            ("dealer-sh-4s", "service_delivery"),
        ]
        first = everything[0]
        assert first["organization"] == "Acme Pudong 4S Dealership (Shanghai)"
        assert first["released"] == ["vehicle.vin"] and first["withheld"] == {"identity.national_id": ["matrix_deny"]}
        dealer = http.get("/v1/me/accesses", params={"recipient": "dealer-sh-4s"}).json()
        assert {a["purpose"] for a in dealer} == {"repair_prediction", "service_delivery"}
        marketing = http.get("/v1/me/accesses", params={"purpose": "marketing"}).json()
        assert [a["recipient"] for a in marketing] == ["bright-marketing"]
        since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        recent = http.get("/v1/me/accesses", params={"since": since}).json()
        assert len(recent) == 2
        page = http.get("/v1/me/accesses", params={"after": first["ledger_index"], "limit": 1}).json()
        assert [a["recipient"] for a in page] == ["bright-marketing"]
        assert http.get("/v1/me/accesses", params={"limit": 0}).status_code == 422
        zh = http.get("/v1/me/accesses", params={"lang": "zh-CN"}).json()
        assert zh[0]["organization"] == "上海浦东艾克米 4S 店"
