"""Portability (GDPR Art. 20) and erasure (Art. 17) against the real demo vehicle cloud served over HTTP."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from sqlalchemy import update

from gateway.app import create_app
from gateway.auth.principals import CustomerPrincipal
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import VEHICLE_CLOUD, demo_upstreams
from gateway.rights import erasure, portability
from gateway.rights.access_log import accesses
from gateway.rights.errors import NotFoundError
from gateway.rights.receipts import get_receipt
from gateway.runtime import Runtime
from gateway.store.customer_tables import erasure_sources
from gateway.upstream import UpstreamConfig, UpstreamRegistry
from tests.gateway.rights.conftest import give


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def vehicle_cloud(free_port: int) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_vehicle_cloud_app(), port=free_port) as server:
        yield server


@pytest.fixture
def li_wei(runtime: Runtime, vehicle_cloud: BackgroundServer) -> CustomerPrincipal:
    """Li Wei, enrolled with the customer number the vehicle cloud knows her by."""
    runtime.upstreams = UpstreamRegistry(demo_upstreams(vehicle_cloud.url))
    return runtime.customers.create(
        username="li.wei",
        password="pw-li-wei-123",
        display_name="Li Wei",
        jurisdiction="CN",
        source_subject="cust-1001",
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_dead_source(configs: dict[str, UpstreamConfig]) -> dict[str, UpstreamConfig]:
    data: dict[str, Any] = configs[VEHICLE_CLOUD].model_dump()
    data.update(name="billing", base_url=f"http://127.0.0.1:{_closed_port()}")
    data["retries"] = {"attempts": 1, "backoff_initial": 0.0, "backoff_max": 0.0}
    return {**configs, "billing": UpstreamConfig.model_validate(data)}


async def _nosleep(_: float) -> None:
    return None


@pytest.mark.anyio
async def test_export_holds_consents_receipts_accesses_and_the_source_record_recorded_as_an_access(
    runtime: Runtime, li_wei: CustomerPrincipal
) -> None:
    change = give(runtime, li_wei, purposes=["marketing"], categories=["contact"])
    assert change.receipt is not None
    try:
        document = await portability.export(runtime.portability, li_wei, lang="zh-CN")
    finally:
        await runtime.upstreams.aclose()
    source = document["sources"][VEHICLE_CLOUD]
    assert source["status"] == "exported"
    assert source["data"]["name"] == "Li Wei" and source["data"]["vehicle"]["vin"] == "LSVAU2180N2183294"
    # Unmapped fields are withheld from every recipient, but they are the customer's data too.
    assert source["data"]["telematics_unit"]["imei"] == "356938035643809"
    assert "/telematics_unit/imei" in source["unmapped_fields"]
    assert document["receipts"][0]["credential"] == get_receipt(runtime.engine, li_wei, change.receipt["id"])
    assert document["receipts"][0]["status"] == "valid"
    assert [r["record_id"] for r in document["consents"]["records"]] == [change.record.record_id]
    assert [e["status"] for e in document["consent_history"]] == ["given"]
    assert document["points"] == {"balance": 0, "accruals": []}
    assert "同意凭证：1 份" in document["summary"]
    (logged,) = [a for a in document["accesses"] if a["type"] == portability.PORTABILITY_EVENT]
    assert logged["ledger_index"] == source["ledger_index"]
    assert logged["recipient"] == "data-subject" and logged["purpose"] == "data_portability"
    assert "vehicle.vin" in logged["released"]


@pytest.mark.anyio
async def test_export_of_a_customer_unknown_to_the_sources_says_so(
    runtime: Runtime, vehicle_cloud: BackgroundServer
) -> None:
    runtime.upstreams = UpstreamRegistry(demo_upstreams(vehicle_cloud.url))
    unknown = runtime.customers.create(
        username="zhao.lei",
        password="pw-zhao-lei-1",
        display_name="Zhao",
        jurisdiction="CN",
        source_subject="cust-9999",
    )
    unlinked = runtime.customers.create(
        username="qian.yu", password="pw-qian-yu-12", display_name="Qian", jurisdiction="CN"
    )
    try:
        assert (await portability.export(runtime.portability, unknown))["sources"][VEHICLE_CLOUD] == {
            "status": "no_record"
        }
        assert (await portability.export(runtime.portability, unlinked))["sources"][VEHICLE_CLOUD] == {
            "status": "not_enrolled"
        }
    finally:
        await runtime.upstreams.aclose()


@pytest.mark.anyio
async def test_erasure_is_ledgered_forwarded_and_completes_with_the_ledger_payloads_erased(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer
) -> None:
    change = give(runtime, li_wei, purposes=["marketing"], categories=["contact"])
    try:
        await portability.export(runtime.portability, li_wei)
        requested = erasure.request_erasure(runtime.erasures, li_wei)
        assert requested["status"] == "pending"
        assert [(s["source"], s["status"]) for s in requested["sources"]] == [(VEHICLE_CLOUD, "pending")]
        assert runtime.ledger.payload(requested["ledger_index"]) == {
            "request_id": requested["request_id"],
            "sources": [VEHICLE_CLOUD],
        }
        done = await erasure.process_erasure(runtime.erasures, li_wei, requested["request_id"], sleep=_nosleep)
    finally:
        await runtime.upstreams.aclose()
    assert done["status"] == "completed" and done["completed_at"] is not None
    assert [(s["source"], s["status"], s["upstream_status"]) for s in done["sources"]] == [
        (VEHICLE_CLOUD, "erased", 204)
    ]
    assert "cust-1001" not in vehicle_cloud.app.state.customers  # type: ignore[attr-defined]
    assert runtime.ledger.payload(requested["ledger_index"]) is None  # the subject's payloads are gone
    assert runtime.ledger.entry(done["ledger_erasure_index"])  # the erasure itself is an entry
    assert all(a.erased for a in accesses(runtime.access_log, li_wei))
    assert runtime.policies.consents.get(change.record.record_id).status.value == "withdrawn"
    assert erasure.list_erasures(runtime.erasures, li_wei) == [done]
    again = erasure.request_erasure(runtime.erasures, li_wei)  # a new request after completion is a new request
    assert again["request_id"] != done["request_id"]


@pytest.mark.anyio
async def test_a_failing_source_is_retried_then_failed_and_a_new_request_resumes_it(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer
) -> None:
    live = demo_upstreams(vehicle_cloud.url)
    runtime.upstreams = UpstreamRegistry(_with_dead_source(live))
    try:
        requested = erasure.request_erasure(runtime.erasures, li_wei)
        failed = await erasure.process_erasure(
            runtime.erasures, li_wei, requested["request_id"], attempts=3, sleep=_nosleep
        )
        assert failed["status"] == "failed"
        status = {s["source"]: s for s in failed["sources"]}
        assert status["billing"]["status"] == "failed" and status["billing"]["attempts"] == 3
        assert "unreachable" in status["billing"]["last_error"]
        assert status[VEHICLE_CLOUD]["status"] == "erased"
        assert runtime.ledger.payload(requested["ledger_index"]) is not None  # not finished: nothing forgotten yet
        resumed = erasure.request_erasure(runtime.erasures, li_wei)
        assert resumed["request_id"] == requested["request_id"]
    finally:
        await runtime.upstreams.aclose()
    billing_back: dict[str, Any] = live[VEHICLE_CLOUD].model_dump()
    billing_back["name"] = "billing"
    runtime.upstreams = UpstreamRegistry({**live, "billing": UpstreamConfig.model_validate(billing_back)})
    try:
        done = await erasure.process_erasure(runtime.erasures, li_wei, requested["request_id"], sleep=_nosleep)
    finally:
        await runtime.upstreams.aclose()
    status = {s["source"]: s for s in done["sources"]}
    assert done["status"] == "completed"
    assert status["billing"]["status"] == "already-absent" and status["billing"]["attempts"] == 4
    assert status[VEHICLE_CLOUD]["attempts"] == 1  # a source already done is not called again


def test_another_customers_erasure_request_answers_like_an_absent_one(
    runtime: Runtime, li_wei: CustomerPrincipal
) -> None:
    other = runtime.customers.create(
        username="wang.fang", password="pw-wang-fang-1", display_name="W", jurisdiction="CN"
    )
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    with pytest.raises(NotFoundError) as theirs:
        erasure.erasure_status(runtime.erasures, other, requested["request_id"])
    with pytest.raises(NotFoundError) as absent:
        erasure.erasure_status(runtime.erasures, other, "nope")
    assert str(theirs.value) == str(absent.value)
    assert erasure.list_erasures(runtime.erasures, other) == []


@pytest.mark.anyio
async def test_one_runner_at_a_time_a_second_leaves_a_leased_erasure_alone(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer
) -> None:
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    assert erasure._claim(runtime.erasures, requested["request_id"])  # a runner elsewhere holds it
    try:
        untouched = await erasure.process_erasure(runtime.erasures, li_wei, requested["request_id"], sleep=_nosleep)
    finally:
        await runtime.upstreams.aclose()
    assert untouched["status"] == "in_progress" and untouched["sources"][0]["attempts"] == 0
    assert "cust-1001" in vehicle_cloud.app.state.customers  # type: ignore[attr-defined]
    assert erasure.resumable(runtime.erasures) == []  # nothing to resume while the lease is live


@pytest.mark.anyio
async def test_a_runner_plans_from_the_state_it_finds_once_it_holds_the_lease(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another runner erased the source and ended between this runner's first read and its claim: the source is
    not asked again and keeps its attempt count."""
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    real_claim = erasure._claim

    def claim_after_another_runner(rt: erasure.Erasures, request_id: str) -> erasure.Lease | None:
        with rt.engine.begin() as conn:
            conn.execute(
                update(erasure_sources)
                .where(erasure_sources.c.request_id == request_id)
                .values(status="erased", attempts=1, upstream_status=204)
            )
        return real_claim(rt, request_id)

    monkeypatch.setattr(erasure, "_claim", claim_after_another_runner)
    try:
        done = await erasure.process_erasure(runtime.erasures, li_wei, requested["request_id"], sleep=_nosleep)
    finally:
        await runtime.upstreams.aclose()
    assert done["status"] == "completed"
    assert [(s["status"], s["attempts"]) for s in done["sources"]] == [("erased", 1)]
    assert "cust-1001" in vehicle_cloud.app.state.customers  # type: ignore[attr-defined]  # never asked by this runner


@pytest.mark.anyio
async def test_an_erasure_acknowledged_before_a_restart_is_resumed_without_being_asked_again(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner died with the process (lease set, status in_progress); once the lease runs out a sweep
    of any gateway process finishes the job."""
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    settings = runtime.settings
    monkeypatch.setattr(runtime, "settings", settings.model_copy(update={"erasure_lease_seconds": 0.05}))
    assert erasure._claim(runtime.erasures, requested["request_id"])  # the process that claimed it is gone
    assert erasure.resumable(runtime.erasures) == []
    await anyio.sleep(0.1)
    assert erasure.resumable(runtime.erasures) == [(requested["request_id"], li_wei.customer_id)]
    monkeypatch.setattr(runtime, "settings", settings)
    try:
        assert await erasure.resume_erasures(runtime.erasures) == 1
        for _ in range(200):
            if erasure.erasure_status(runtime.erasures, li_wei, requested["request_id"])["status"] == "completed":
                break
            await anyio.sleep(0.05)
    finally:
        await erasure.stop_erasures(runtime.erasures)
        await runtime.upstreams.aclose()
    assert erasure.erasure_status(runtime.erasures, li_wei, requested["request_id"])["status"] == "completed"
    assert "cust-1001" not in vehicle_cloud.app.state.customers  # type: ignore[attr-defined]
    assert erasure.resumable(runtime.erasures) == []


@pytest.mark.anyio
async def test_a_runner_keeps_its_lease_through_a_backoff_longer_than_the_lease(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting between attempts is still working on the erasure: no sweep may take it over meanwhile."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"erasure_lease_seconds": 0.05}))
    runtime.upstreams = UpstreamRegistry(_with_dead_source(demo_upstreams(vehicle_cloud.url)))
    seen_by_a_sweep: list[list[tuple[str, str]]] = []

    async def backoff(delay: float) -> None:
        await anyio.sleep(delay)
        seen_by_a_sweep.append(erasure.resumable(runtime.erasures))

    try:
        requested = erasure.request_erasure(runtime.erasures, li_wei)
        await erasure.process_erasure(
            runtime.erasures, li_wei, requested["request_id"], attempts=2, backoff=0.2, sleep=backoff
        )
    finally:
        await runtime.upstreams.aclose()
    assert seen_by_a_sweep == [[]]


@pytest.mark.anyio
async def test_a_failed_erasure_waits_to_be_requested_again_and_is_not_swept(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer
) -> None:
    runtime.upstreams = UpstreamRegistry(_with_dead_source(demo_upstreams(vehicle_cloud.url)))
    try:
        requested = erasure.request_erasure(runtime.erasures, li_wei)
        failed = await erasure.process_erasure(
            runtime.erasures, li_wei, requested["request_id"], attempts=1, sleep=_nosleep
        )
    finally:
        await runtime.upstreams.aclose()
    assert failed["status"] == "failed"
    assert erasure.resumable(runtime.erasures) == []


def test_a_starting_gateway_sweeps_up_an_erasure_left_pending(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer
) -> None:
    """Acknowledged (ledgered, pending) but never run, as after a crash right after the answer: the next
    server start finishes it."""
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    with BackgroundServer(create_app(runtime.settings, runtime=runtime), port=_closed_port()):
        for _ in range(200):
            if erasure.erasure_status(runtime.erasures, li_wei, requested["request_id"])["status"] == "completed":
                break
            time.sleep(0.05)
    assert erasure.erasure_status(runtime.erasures, li_wei, requested["request_id"])["status"] == "completed"
    assert "cust-1001" not in vehicle_cloud.app.state.customers  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_runner_that_outlived_its_lease_is_fenced_off_and_the_erasure_finishes_once(
    runtime: Runtime, li_wei: CustomerPrincipal, vehicle_cloud: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runner A stalls past its lease; runner B takes over and finishes. A's later writes must all be refused
    (LeaseLost), so the subject is erased once, with one ledger erasure entry, and the status stays completed."""
    requested = erasure.request_erasure(runtime.erasures, li_wei)
    settings = runtime.settings
    monkeypatch.setattr(runtime, "settings", settings.model_copy(update={"erasure_lease_seconds": 0.05}))
    stale = erasure._claim(runtime.erasures, requested["request_id"])
    assert stale is not None
    await anyio.sleep(0.1)  # A's lease ran out while it was stuck
    monkeypatch.setattr(runtime, "settings", settings)
    finishes: list[str] = []
    real_finish = erasure._finish

    def counting_finish(rt: erasure.Erasures, customer: CustomerPrincipal, lease: erasure.Lease) -> None:
        finishes.append(lease.owner)
        real_finish(rt, customer, lease)

    monkeypatch.setattr(erasure, "_finish", counting_finish)
    try:
        done = await erasure.process_erasure(
            runtime.erasures, li_wei, requested["request_id"], sleep=_nosleep
        )  # runner B
    finally:
        await runtime.upstreams.aclose()
    assert done["status"] == "completed" and len(finishes) == 1 and finishes[0] != stale.owner
    for late_write in (
        lambda: erasure._renew(runtime.erasures, stale),
        lambda: erasure._update_source(runtime.erasures, stale, VEHICLE_CLOUD, status="failed"),
        lambda: erasure._end(runtime.erasures, stale, status="failed"),
        lambda: erasure._finish(runtime.erasures, li_wei, stale),
    ):
        with pytest.raises(erasure.LeaseLost):
            late_write()
    after = erasure.erasure_status(runtime.erasures, li_wei, requested["request_id"])
    assert after["status"] == "completed" and after["sources"][0]["status"] == "erased"
    assert after["ledger_erasure_index"] == done["ledger_erasure_index"]
