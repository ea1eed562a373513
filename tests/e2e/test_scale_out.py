"""Issue 4, "Scale-out": two gateway processes on one PostgreSQL behave as one.

A withdrawal is enforced by both at once (no process caches an allow), and concurrent proxied reads
through both append to one ledger whose indices never fork: every access gets its own index, the indices
are contiguous, and the full audit and an outside audit through either gateway pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gateway.demo import VehicleCloudProcess
from ledger.remote_audit import AuditState, remote_audit
from ledger.store import Ledger, audit
from tests.e2e.conftest import _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir
from tests.e2e.test_proxy import RECORD, World, start_serve

pytestmark = pytest.mark.postgres


@pytest.fixture
def twins(tmp_path: Path, postgres_url: str) -> Iterator[tuple[World, World, str]]:
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp_path / "data", upstream.url, database_url=postgres_url)
        # one data directory and one public URL: replicas of one deployment share keys, issuer and log origin
        shared = {"CONSENTRY_DATABASE_URL": postgres_url, "CONSENTRY_ISSUER": "https://gateway.example"}
        first = start_serve(tmp_path, tmp_path / "data", upstreams, **shared)
        try:
            second = start_serve(tmp_path, tmp_path / "data", upstreams, **shared)
            try:
                yield World(first, seeded, upstream), World(second, seeded, upstream), postgres_url
            finally:
                _stop(second)
        finally:
            _stop(first)


def test_withdrawals_apply_at_once_and_concurrent_reads_never_fork(
    tmp_path: Path, twins: tuple[World, World, str]
) -> None:
    first, second, url = twins
    for gateway in (first, second):
        assert gateway.get(RECORD, "marketing", "marketing").status_code == 200
    # Li Wei withdraws through the first process's customer API ...
    record = first.seeded.consents[("cust-1001", "marketing")]
    with httpx.Client(base_url=first.gateway.base_url, timeout=30) as customer:
        password = first.seeded.passwords["li.wei"]
        signed_in = customer.post("/v1/session", json={"username": "li.wei", "password": password})
        assert signed_in.status_code == 200
        # the public URL is https, so the cookie is Secure: present it by hand over the loopback's plain http
        session = {"Cookie": f"consentry_session={signed_in.cookies['consentry_session']}"}
        withdrawn = customer.post(
            f"/v1/me/consents/{record}/withdraw", headers={"Idempotency-Key": "scale-out-1", **session}
        )
        assert withdrawn.status_code == 200, withdrawn.text
    # ... and the very next request on either process sees it
    for gateway in (second, first):
        response = gateway.get(RECORD, "marketing", "marketing")
        assert response.status_code == 403, response.text
        assert "consent_withdrawn" in response.json()["withheld"]["contact.phone"]
    concurrent_reads_never_fork_the_ledger(first, second, url)


def concurrent_reads_never_fork_the_ledger(first: World, second: World, url: str) -> None:
    tokens = {id(w): w.token("dealer") for w in (first, second)}
    with Ledger.open(url, create=False) as ledger:
        start = ledger.size()

    def read(world: World) -> int:
        headers = {"Authorization": f"Bearer {tokens[id(world)]}", "Consentry-Purpose": "service_delivery"}
        response = httpx.get(world.gateway.base_url + RECORD, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        return int(response.headers["Consentry-Ledger-Index"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        indices = list(pool.map(read, [first, second] * 40))
    assert len(set(indices)) == len(indices) == 80
    with Ledger.open(url, create=False) as ledger:
        assert sorted(indices) == list(range(start, ledger.size()))
        keys = httpx.get(
            first.gateway.base_url + "/v1/ledger/keys",
            headers={"Authorization": f"Bearer {first.token('auditor')}"},
            timeout=30,
        ).json()["verifier_keys"]
        assert audit(ledger, keys).size == ledger.size()
    state = AuditState(url="twins")
    for world in (first, second, first):
        with httpx.Client(base_url=world.gateway.base_url, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {world.token('auditor')}"
            remote_audit(http, state)
