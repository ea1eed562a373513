"""Retention over real HTTP: a gateway whose clock the test moves, the demo's vehicle cloud, the auditor's view.

Past its purpose's period a consent lapses (the proxy refuses with `consent_expired`, its receipt is revoked),
old access-log payloads are gone while their inclusion proofs still verify against a signed checkpoint, the vehicle
cloud receives a deletion request for what no live purpose covers any more, and every action is an auditor-
searchable ledger entry. On PostgreSQL two gateway processes race for the lease and each action happens once.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.seed import DEMO_CONSENTS
from gateway.retention import DELETION_REQUEST_EVENT, ERASURE_EVENT, RETENTION_ACTOR
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from gateway.store.retention_tables import retention_lease
from ledger import verify_checkpoint, verify_inclusion
from ledger.store import Ledger
from policies import ConsentStatus
from tests.e2e.clocked_gateway import move_clock, start_clocked_gateway
from tests.e2e.conftest import Actors, Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token

T = TypeVar("T")
RECORD = "/v1/proxy/vehicle-cloud/customers/cust-1001"


def eventually(probe: Callable[[], T | None], what: str, deadline_s: float = 180.0) -> T:
    """Wait for the background enforcer to have done something (no timing is asserted, only the outcome)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"never happened: {what}")


def b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def cloud() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as server:
        yield server


@pytest.fixture
def stopping() -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    try:
        yield started
    finally:
        for gateway in started:
            _stop(gateway)


def _read(gateway: Gateway, bearer: str, purpose: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}", "Consentry-Purpose": purpose}
    return httpx.get(gateway.base_url + RECORD, headers=headers, timeout=30)


def _events(gateway: Gateway, bearer: str, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{gateway.base_url}/v1/ledger/events",
        params={"limit": 1000, **params},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def test_past_the_period_the_proxy_refuses_payloads_go_proofs_verify_and_the_source_deletes(
    tmp_path: Path, cloud: BackgroundServer, stopping: list[Gateway]
) -> None:
    world, upstreams = seed_data_dir(tmp_path / "data-one", cloud.url)
    gateway = start_clocked_gateway(tmp_path, "one", upstreams_path=str(upstreams), retention_interval_seconds="0.5")
    stopping.append(gateway)
    rnd = token(gateway.base_url, world, "rnd")
    auditor = token(gateway.base_url, world, "auditor")

    released = _read(gateway, rnd, "joint_rnd")
    assert released.status_code == 200, released.text
    read_index = released.json()["ledger_index"]

    http = gateway.customer_session("li.wei", world.passwords["li.wei"])
    with closing(http):
        agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
        granted = http.post(
            "/v1/me/consents",
            json={
                "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
                "lang": "en",
                "purposes": ["repair_prediction"],
                "categories": ["vehicle"],
            },
        )
        assert granted.status_code == 201, granted.text
        receipt_id = granted.json()["receipt_id"]
        record_id = granted.json()["record"]["record_id"]
        told = http.get("/v1/me/retention").json()
        assert told["notice_days"] == 30 and len(told["consents"]) == 4 and told["deletions"] == []
        mine = next(c for c in told["consents"] if c["record_id"] == record_id)
        assert 364 <= mine["days_left"] <= 365 and not mine["notice"]
        renewed = http.post(f"/v1/me/consents/{record_id}/renew", headers={"Idempotency-Key": str(uuid.uuid4())})
        assert renewed.status_code == 200 and renewed.json()["action"] == "renewed", renewed.text
        unknown = http.post(f"/v1/me/consents/{uuid.uuid4()}/renew", headers={"Idempotency-Key": str(uuid.uuid4())})
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"

        move_clock(gateway, datetime.now(UTC) + timedelta(days=800))  # past every demo consent's period

        refused = eventually(
            lambda: (r := _read(gateway, rnd, "joint_rnd")).status_code == 403 and r,
            "the R&D partner's read is refused",
        )
        withheld = refused.json()["withheld"]
        assert withheld["behavior.driving"] == ["consent_expired"] and withheld["vehicle.mileage"] == [
            "consent_expired"
        ]
        receipts = eventually(
            lambda: (
                (rs := {r["receipt_id"]: r for r in http.get("/v1/me/receipts").json()})
                .get(receipt_id, {})
                .get("status")
                == "revoked"
                and rs
            ),
            "the renewed consent's receipt is revoked",
        )
        assert receipts[receipt_id]["revoked_at"] is not None
        assert {r["status"] for r in receipts.values() if r["record_id"] == record_id} == {"revoked"}
        deletions = eventually(
            lambda: [
                d for d in http.get("/v1/me/retention").json()["deletions"] if d["sources"][0]["status"] != "pending"
            ],
            "the deletion request answered",
        )
        assert deletions[0]["sources"][0]["source"] == "vehicle-cloud"
        assert deletions[0]["sources"][0]["status"] == "deleted"

    deletion = eventually(
        lambda: [d for d in cloud.app.state.deletions if d["customer_id"] == "cust-1001"], "the vehicle cloud is asked"
    )
    assert sorted(deletion[0]["categories"]) == ["behavior.driving", "location.precise"]
    assert "driving" not in cloud.app.state.customers["cust-1001"]
    assert cloud.app.state.customers["cust-1001"]["vehicle"]["vin"]  # still needed for service delivery

    erasures = eventually(
        lambda: _events(gateway, auditor, type=ERASURE_EVENT, actor=RETENTION_ACTOR), "an erasure entry"
    )
    assert {e["purpose"] for e in erasures} >= {"joint_rnd"}
    lapses = _events(gateway, auditor, type="consent.expired", actor=RETENTION_ACTOR)
    assert len(lapses) == 10  # nine seeded consents of three adults, and Li Wei's own
    assert _events(gateway, auditor, type=DELETION_REQUEST_EVENT)

    # The access entry's payload is gone, its leaf stays, and its inclusion proof verifies against a signature.
    with Ledger.open(gateway.database_url, create=False) as ledger:
        assert ledger.payload(read_index) is None
    headers = {"Authorization": f"Bearer {auditor}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=30) as ledger_api:
        checkpoint = ledger_api.get("/v1/ledger/checkpoint").json()
        keys = ledger_api.get("/v1/ledger/keys").json()["verifier_keys"]
        proof = ledger_api.get(
            "/v1/ledger/proofs/inclusion", params={"index": read_index, "tree_size": checkpoint["size"]}
        ).json()
    signed = verify_checkpoint(checkpoint["note"], keys)
    verify_inclusion(
        b64(proof["leaf_hash"]), read_index, signed.size, [b64(h) for h in proof["audit_path"]], signed.root
    )


POSTGRES = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")


def _last_run(url: str) -> datetime:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(retention_lease.c.last_run_at)).scalar()
    finally:
        engine.dispose()
    return found or datetime.min.replace(tzinfo=UTC)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    if not POSTGRES:
        pytest.skip("PostgreSQL test: set CONSENTRY_TEST_POSTGRES_URL")
    name = f"consentry_retention_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_gateways_on_postgresql_race_for_the_lease_and_each_action_happens_once(
    tmp_path: Path, cloud: BackgroundServer, stopping: list[Gateway], postgres_database: str
) -> None:
    world, upstreams = seed_data_dir(tmp_path / "data-a", cloud.url, postgres_database)
    (tmp_path / "data-b").mkdir()
    (tmp_path / "data-b" / "keys").symlink_to(tmp_path / "data-a" / "keys")  # one gateway, two processes
    env = {"upstreams_path": str(upstreams), "database_url": postgres_database, "retention_interval_seconds": "0.2"}
    first = start_clocked_gateway(tmp_path, "a", **env)
    stopping.append(first)
    second = start_clocked_gateway(tmp_path, "b", **env)
    stopping.append(second)
    auditor = token(first.base_url, world, "auditor")
    for gateway in (first, second):
        released = _read(gateway, token(gateway.base_url, world, "rnd"), "joint_rnd")
        assert released.status_code == 200, released.text

    later = datetime.now(UTC) + timedelta(days=800)
    move_clock(first, later)
    move_clock(second, later)

    eventually(lambda: len(cloud.app.state.deletions) >= 3, "three deletion requests")
    lapses = eventually(
        lambda: (found := _events(first, auditor, type="consent.expired")) and len(found) >= 9 and found,
        "nine lapses",
    )
    for _ in range(3):  # let the sweeps complete more runs: nothing may be done again
        seen = _last_run(postgres_database)
        eventually(lambda seen=seen: _last_run(postgres_database) > seen, "another completed run")
    lapses = _events(first, auditor, type="consent.expired")
    per_record = Counter(e["subject"] for e in lapses)
    assert len(lapses) == 9 and set(per_record.values()) == {3}  # three consents per adult, once each
    assert Counter(d["customer_id"] for d in cloud.app.state.deletions) == {
        "cust-1001": 1,
        "cust-1002": 1,
        "cust-1003": 1,
    }
    assert len(_events(first, auditor, type=DELETION_REQUEST_EVENT)) == 3
    erased = _events(first, auditor, type=ERASURE_EVENT)
    assert len(erased) == 1  # both reads, one batch, erased once
    assert "retention_run" in first.logs() + second.logs()


def test_a_consent_past_its_period_is_refused_before_any_sweep_records_the_lapse(
    tmp_path: Path, cloud: BackgroundServer, start_gateway: Callable[..., Gateway]
) -> None:
    """Between two sweeps (here: the sweep's lease held elsewhere, so none ever runs) a consent whose retention
    period has just ended is no longer in force: the decision works the end out itself and fails closed."""
    data_dir = tmp_path / "data-between-sweeps"
    world, upstreams = seed_data_dir(data_dir, cloud.url)
    period = timedelta(days=730)  # joint_rnd's consent retention in the demo taxonomy
    runtime = Runtime.start(Settings(data_dir=data_dir, upstreams_path=upstreams))
    try:
        assert runtime.policies.taxonomy.purposes["joint_rnd"].retention["consent"].days == period.days
        emily = runtime.customers.by_username("emily.carter")
        assert emily is not None
        categories, recipients = DEMO_CONSENTS["joint_rnd"]
        given = runtime.policies.consents.grant(
            subject_id=emily.customer_id,
            purposes=["joint_rnd"],
            categories=list(categories),
            recipients=list(recipients),
            jurisdiction="US-CA",
            actor=f"customer:{emily.customer_id}",
            cross_border=True,
            at=datetime.now(UTC) - period - timedelta(minutes=1),  # its period ended a minute ago
        )
        with runtime.engine.begin() as conn:  # another process holds the sweep's lease: no sweep can run
            conn.execute(
                insert(retention_lease).values(
                    name="retention", lease_owner="elsewhere", lease_until=datetime.now(UTC) + timedelta(days=1)
                )
            )
    finally:
        runtime.close()
    gateway = start_gateway(data_dir=data_dir, upstreams_path=str(upstreams))
    rnd = token(gateway.base_url, world, "rnd")

    headers = {"Authorization": f"Bearer {rnd}", "Consentry-Purpose": "joint_rnd"}
    refused = httpx.get(f"{gateway.base_url}/v1/proxy/vehicle-cloud/customers/cust-1005", headers=headers, timeout=30)
    control = _read(gateway, rnd, "joint_rnd")  # li.wei's consent, given today, still releases

    assert refused.status_code == 403, refused.text
    withheld = refused.json()["withheld"]
    assert withheld["behavior.driving"] == ["consent_expired"] and withheld["vehicle.mileage"] == ["consent_expired"]
    assert control.status_code == 200, control.text
    runtime = Runtime.start(Settings(data_dir=data_dir, upstreams_path=upstreams))
    try:  # the refusal came from the decision, not from a sweep: the stored consent is still "given"
        assert runtime.policies.consents.get(given.record_id).status == ConsentStatus.GIVEN
    finally:
        runtime.close()


def test_a_production_gateway_has_no_way_to_move_its_clock(actors: Actors) -> None:
    with actors.gateway.client() as http:
        moved = http.put("/test/clock", json={"now": "2030-01-01T00:00:00+00:00"})
        assert moved.status_code in (404, 405)
        assert moved.headers["content-type"] == "application/problem+json"
        assert http.get("/test/clock").status_code == 404
