"""The retention enforcer in one process: a moved clock lapses the demo's consents, erases old payloads (proofs
still verify), and the vehicle cloud receives a deletion request for what no live purpose covers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from gateway.audit.event_index import EventQuery
from gateway.auth.principals import ClientPrincipal, Role
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.seed import DemoWorld, seed_demo
from gateway.retention import RECEIPTS_EVENT, RETENTION_ACTOR, deletion_status, run_retention, survey
from gateway.rights import consents
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.customer_tables import consent_receipts
from gateway.store.federation_tables import change_events, event_deliveries
from ledger import Event, verify_inclusion
from ledger.rfc9162 import leaf_hash
from policies import ConsentStatus
from tests.e2e.proxy_world import write_upstreams
from tests.support.clock import SettableClock


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cloud() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_vehicle_cloud_app(), port=_port()) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, cloud: BackgroundServer) -> Iterator[tuple[Runtime, DemoWorld, SettableClock]]:
    upstreams = write_upstreams(tmp_path / "upstreams.yaml", cloud.url)
    runtime = Runtime.start(Settings(data_dir=tmp_path / "data", upstreams_path=upstreams, retention_batch=2))
    clock = SettableClock()
    runtime.clock = clock
    try:
        yield runtime, seed_demo(runtime), clock
    finally:
        runtime.close()


def _access(runtime: Runtime, customer_id: str, purpose: str) -> int:
    payload = {"recipient": "stuttgart-rnd", "purpose": purpose, "released": ["vehicle.mileage"]}
    return runtime.ledger.append(Event("access", "client:rnd", runtime.pseudonyms(customer_id), payload))


def test_a_run_past_the_periods_lapses_erases_and_asks_the_source(
    world: tuple[Runtime, DemoWorld, SettableClock], cloud: BackgroundServer
) -> None:
    runtime, demo, clock = world
    li = demo.customer_ids["cust-1001"]
    accesses = [_access(runtime, li, "joint_rnd") for _ in range(3)]
    marketing = _access(runtime, li, "marketing")

    assert survey(runtime.retention).counts()["totals"] == {"lapse": 0, "erase_payload": 0, "delete_at_source": 0}

    clock.advance(days=400)  # past marketing's and repair prediction's 365 days, within joint R&D's 730
    counts = survey(runtime.retention).counts()
    assert counts["purposes"]["marketing"]["lapse"] == 3  # three adults consented
    assert counts["purposes"]["repair_prediction"]["lapse"] == 3
    assert "joint_rnd" not in counts["purposes"] or counts["purposes"]["joint_rnd"]["lapse"] == 0
    assert counts["purposes"]["joint_rnd"]["erase_payload_by_kind"] == {"access_log": 3}  # 365-day access log
    assert counts["purposes"]["marketing"]["erase_payload_by_kind"] == {"access_log": 1}
    # marketing's contact, name and city are still covered by service delivery (a contract): nothing to delete
    assert counts["totals"]["delete_at_source"] == 0

    report = asyncio.run(run_retention(runtime.retention))
    assert report.ran and len(report.lapsed) == 6
    assert report.erased_payloads == 4 and len(report.erasure_entries) == 3  # batches of 2
    for index in [*accesses, marketing]:
        assert runtime.ledger.payload(index) is None
    size = runtime.ledger.size()
    root = runtime.ledger.root(size)
    for index in accesses:
        proof = runtime.ledger.inclusion_proof(index, size)
        verify_inclusion(leaf_hash(runtime.ledger.entry(index)), index, size, proof, root)
    record = runtime.policies.consents.get(demo.consents[("cust-1001", "marketing")])
    assert record.status is ConsentStatus.EXPIRED
    assert cloud.app.state.deletions == []

    # Nothing is done twice: the next run finds nothing due.
    again = asyncio.run(run_retention(runtime.retention))
    assert again.ran and again.lapsed == [] and again.erased_payloads == 0

    clock.advance(days=400)  # now past joint R&D's 730 days too
    report = asyncio.run(run_retention(runtime.retention))
    assert len(report.lapsed) == 3
    deletions = {d["customer_id"]: d for d in cloud.app.state.deletions}
    assert set(deletions) == {"cust-1001", "cust-1002", "cust-1003"}
    # vehicle data is still needed for service delivery; the driving record and the precise track are not
    assert sorted(deletions["cust-1001"]["categories"]) == ["behavior.driving", "location.precise"]
    assert "driving" not in cloud.app.state.customers["cust-1001"]
    assert "lat" not in cloud.app.state.customers["cust-1001"]["location"]
    assert cloud.app.state.customers["cust-1001"]["vehicle"]["vin"]
    assert {d["status"] for d in report.deletions} == {"deleted"}


def test_a_second_runner_waits_for_the_lease(world: tuple[Runtime, DemoWorld, SettableClock]) -> None:
    runtime, _, clock = world
    clock.advance(days=400)

    async def both() -> list[bool]:
        reports = await asyncio.gather(run_retention(runtime.retention), run_retention(runtime.retention))
        return [r.ran for r in reports]

    ran = asyncio.run(both())
    assert sorted(ran) == [False, True]
    lapses = [
        e
        for e in runtime.policies.consents.history(next(iter(runtime.policies.consents.live())).subject_id)
        if e.actor == RETENTION_ACTOR
    ]
    assert all(e.status is ConsentStatus.EXPIRED for e in lapses)


def test_a_source_that_fails_is_retried_in_later_runs_then_marked_failed(
    tmp_path: Path, cloud: BackgroundServer
) -> None:
    upstreams = write_upstreams(tmp_path / "upstreams.yaml", cloud.url)
    document = yaml.safe_load(upstreams.read_text())
    dead = dict(document["upstreams"][0], name="billing", base_url=f"http://127.0.0.1:{_port()}")
    dead["retries"] = {"attempts": 1, "backoff_initial": 0.01, "backoff_max": 0.01}
    document["upstreams"].append(dead)
    upstreams.write_text(yaml.safe_dump(document))
    runtime = Runtime.start(
        Settings(data_dir=tmp_path / "data", upstreams_path=upstreams, retention_deletion_attempts=2)
    )
    clock = SettableClock()
    runtime.clock = clock
    try:
        demo = seed_demo(runtime)
        li = demo.customer_ids["cust-1001"]
        clock.advance(days=800)
        asyncio.run(run_retention(runtime.retention))
        first = {s["source"]: s for s in deletion_status(runtime.retention, li)[0]["sources"]}
        assert first["vehicle-cloud"]["status"] == "deleted" and first["vehicle-cloud"]["attempts"] == 1
        assert first["billing"]["status"] == "pending" and first["billing"]["attempts"] == 1
        assert first["billing"]["last_error"]

        asyncio.run(run_retention(runtime.retention))
        second = {s["source"]: s for s in deletion_status(runtime.retention, li)[0]["sources"]}
        assert second["billing"]["status"] == "failed" and second["billing"]["attempts"] == 2
        assert second["vehicle-cloud"]["attempts"] == 1  # a source that answered is never asked again
        assert [d["customer_id"] for d in cloud.app.state.deletions].count("cust-1001") == 1
        outcomes = [runtime.ledger.payload(s["ledger_index"]) for s in second.values() if s["ledger_index"] is not None]
        assert {(o or {}).get("status") for o in outcomes} == {"deleted", "failed"}
    finally:
        runtime.close()


def test_a_revoked_receipt_is_kept_for_its_period_then_its_copy_is_deleted(
    world: tuple[Runtime, DemoWorld, SettableClock],
) -> None:
    runtime, demo, clock = world
    li = runtime.customers.get(demo.customer_ids["cust-1001"])
    assert li is not None
    agreement = consents.current_agreement(runtime.policies, li.jurisdiction, "en")
    given = consents.grant(
        runtime.policies,
        runtime.credentials,
        runtime.customers,
        li,
        purposes=["repair_prediction"],
        categories=["vehicle"],
        notice_version=agreement.version,
        notice_sha256=agreement.sha256,
    )
    receipt_id = given.receipt["id"] if given.receipt else None

    def stored() -> list[str]:
        with runtime.engine.connect() as conn:
            return list(conn.execute(select(consent_receipts.c.receipt_id)).scalars())

    clock.advance(days=400)
    report = asyncio.run(run_retention(runtime.retention))
    assert receipt_id in report.revoked_receipts and receipt_id in stored()  # revoked, still kept for 365 days
    clock.advance(days=300)
    assert survey(runtime.retention).receipts == []
    clock.advance(days=100)
    due = survey(runtime.retention).receipts
    assert [(r.purpose, r.receipt_ids) for r in due] == [("repair_prediction", (receipt_id,))]
    asyncio.run(run_retention(runtime.retention))
    assert receipt_id not in stored()
    erased = runtime.events.search(EventQuery(type=RECEIPTS_EVENT))
    assert len(erased) == 1 and erased[0].purpose == "repair_prediction"


def test_a_lapse_tells_the_named_recipients_through_the_change_event_outbox(
    world: tuple[Runtime, DemoWorld, SettableClock],
) -> None:
    runtime, demo, clock = world
    marketing = ClientPrincipal(
        client_id="bright-crm",
        organization="bright-marketing",
        roles=frozenset({Role.CRM}),
        scopes=frozenset({"proxy"}),
        allowed_purposes=frozenset(),
        jurisdiction="CN",
        token_id="t",
        token_expires_at=0,
    )
    runtime.webhooks.register(marketing, "https://agency.example/events", ["consent.expired"])
    clock.advance(days=400)
    asyncio.run(run_retention(runtime.retention))
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(change_events.c.type, change_events.c.body)
            .join(event_deliveries, event_deliveries.c.event_seq == change_events.c.seq)
            .order_by(change_events.c.seq)
        ).all()
    told = [json.loads(body)["data"] for kind, body in rows if kind == "consent.expired"]
    # the marketing agency hears of the three marketing consents it was named in, not of the dealers' ones
    assert sorted(d["record_id"] for d in told) == sorted(
        demo.consents[(subject, "marketing")] for subject in ("cust-1001", "cust-1002", "cust-1003")
    )
    assert {d["status"] for d in told} == {"expired"}
