"""Issue 21: differentially private aggregates over real HTTP, the demo's vehicle cloud as the source.

The R&D partner asks for statistics of the fleet's mileage; only customers whose consents and the matrix allow
`aggregate` count (a withdrawal leaves the next cohort), every answer spends a budget in the ledger, a cohort below
the minimum is refused, two gateway processes on PostgreSQL never both spend the last of a budget, and nothing of
the values read ever lands in the database, the logs or the ledger.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from gateway.analytics import QUERY_EVENT
from gateway.demo import DEMO_CUSTOMERS, VehicleCloudProcess
from gateway.demo.fleet import FLEET_MODELS, fleet_customers
from gateway.runtime import key_store
from gateway.settings import Settings
from gateway.store.analytics_tables import analytics_budgets, analytics_contributions, analytics_queries
from ledger import parse_envelope, pseudonym
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir, token
from tests.e2e.test_proxy import World, assert_problem, start_serve

QUERIES = "/v1/analytics/queries"
RND_BUDGET = 20.0  # policies/data/matrix.yaml: rnd-vehicle-statistics


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("analytics")
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp / "data", upstream.url, fleet=True)
        gateway = start_serve(tmp, tmp / "data", upstreams)
        try:
            yield World(gateway, seeded, upstream)
        finally:
            _stop(gateway)


def ask(gateway: Gateway, bearer: str, body: dict[str, Any], purpose: str | None = "joint_rnd") -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"}
    if purpose is not None:
        headers["Consentry-Purpose"] = purpose
    return httpx.post(gateway.base_url + QUERIES, json=body, headers=headers, timeout=120)


def mileage(statistic: str, epsilon: float, **extra: Any) -> dict[str, Any]:
    return {"source": "vehicle-cloud", "statistic": statistic, "attribute": "mileage_km", "epsilon": epsilon, **extra}


def subjects_by_pseudonym(world: World) -> dict[str, str]:
    key = key_store(Settings(data_dir=world.gateway.data_dir)).secret("pseudonym")
    return {pseudonym(key, cid): subject for subject, cid in world.seeded.customer_ids.items()}


def contributors(world: World, query_id: str) -> set[str]:
    engine = create_engine(world.gateway.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(analytics_contributions.c.subject).where(analytics_contributions.c.query_id == query_id)
            ).scalars()
            names = subjects_by_pseudonym(world)
            return {names[r] for r in rows}
    finally:
        engine.dispose()


def signed_in(world: World, username: str) -> httpx.Client:
    http = httpx.Client(base_url=world.gateway.base_url, timeout=30)
    password = world.seeded.passwords[username]
    assert http.post("/v1/session", json={"username": username, "password": password}).status_code == 200
    return http


def test_only_customers_who_allow_aggregates_count_and_a_withdrawal_leaves_the_next_cohort(world: World) -> None:
    rnd = world.token("rnd")
    first = ask(world.gateway, rnd, mileage("count", 1.0))
    assert first.status_code == 200, first.text
    answer = first.json()
    # the fleet and the three adults consented to R&D use of their vehicle data; the minor has no consent on file
    consenting = {*fleet_customers(), "cust-1001", "cust-1002", "cust-1003"}
    assert contributors(world, answer["query_id"]) == consenting
    exact, (group,) = len(consenting), answer["groups"]
    assert abs(group["result"]["count"] - exact) <= 10 * group["accuracy"]["count"]
    assert answer["epsilon"] <= 1.0 and answer["delta"] == 0 and answer["confidence"] == 0.95

    with closing(signed_in(world, "li.wei")) as li:
        seen = li.get("/v1/me/analytics", params={"lang": "en"}).json()["analyses"]
        assert [(a["query_id"], a["recipient"], a["purpose"], a["statistic"]) for a in seen] == [
            (answer["query_id"], "stuttgart-rnd", "joint_rnd", "count")
        ]
        assert seen[0]["epsilon"] == answer["epsilon"] and seen[0]["organization"].startswith("Stuttgart")
        record = world.seeded.consents[("cust-1001", "joint_rnd")]
        withdrawn = li.post(f"/v1/me/consents/{record}/withdraw", headers={"Idempotency-Key": "analytics-1"})
        assert withdrawn.status_code == 200, withdrawn.text

        second = ask(world.gateway, rnd, mileage("count", 1.0))
        assert second.status_code == 200, second.text
        assert contributors(world, second.json()["query_id"]) == consenting - {"cust-1001"}
        # her list still holds the analysis she was part of, and only that one
        assert [a["query_id"] for a in li.get("/v1/me/analytics").json()["analyses"]] == [answer["query_id"]]
        page = li.get("/portal/accesses")
        assert page.status_code == 200 and "Anonymous statistics your data counted in (1)" in page.text
        # the analysis's ledger entry is hers to inspect, with its inclusion proof
        proof = li.get(f"/portal/ledger/{answer['ledger_index']}/proof.json")
        assert proof.status_code == 200 and proof.json()["entry"]["type"] == QUERY_EVENT
        other = li.get(f"/portal/ledger/{second.json()['ledger_index']}/proof.json")
        assert other.status_code == 404


def test_the_rnd_partners_average_mileage_per_model(world: World) -> None:
    response = ask(world.gateway, world.token("rnd"), mileage("mean", 2.0, group_by="model"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [g["group"] for g in answer["groups"]] == list(FLEET_MODELS)
    for group in answer["groups"]:
        assert set(group["result"]) == {"mean", "count"} and set(group["accuracy"]) == {"mean", "count"}
        assert group["result"]["mean"] is None or 0 <= group["result"]["mean"] <= 300_000
    assert answer["unit"] == "km" and answer["bounds"] == [0, 300_000] and 1.99 < answer["epsilon"] <= 2.0
    assert answer["mechanism"].startswith("OpenDP") and answer["noise_scale"]["sum"] > 0
    budget = answer["budget"]
    assert budget["attributes"] == ["mileage_km", "model"] and budget["epsilon_total"] == RND_BUDGET
    assert budget["epsilon_spent"] == pytest.approx(answer["epsilon"])
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        envelope = parse_envelope(ledger.entry(answer["ledger_index"]))
        payload = ledger.payload(answer["ledger_index"])
    assert envelope["type"] == QUERY_EVENT and envelope["subject"] is None
    assert payload["epsilon"] == answer["epsilon"] and payload["statistic"] == "mean"
    assert payload["group_by"] == "model" and "groups" not in payload


def test_every_refusal_is_a_problem_and_spends_nothing(world: World, tmp_path: Path) -> None:
    rnd = world.token("rnd")
    assert_problem(ask(world.gateway, rnd, mileage("mean", 1.0), purpose=None), 400, "purpose-required")
    assert_problem(ask(world.gateway, rnd, mileage("mean", 1.0), purpose="marketing"), 403, "purpose-not-allowed")
    assert_problem(ask(world.gateway, world.token("dealer"), mileage("mean", 1.0)), 403, "insufficient-scope")
    assert_problem(ask(world.gateway, rnd, mileage("mean", 50.0)), 400, "invalid-analytics-query")
    assert_problem(ask(world.gateway, rnd, mileage("sum", 1.0, attribute="model")), 400, "invalid-analytics-query")
    assert_problem(ask(world.gateway, rnd, mileage("mean", 1.0, source="billing")), 404, "not-found")
    bins = mileage("histogram", 1.0, bins=[0, 100_000, 500_000])
    assert_problem(ask(world.gateway, rnd, bins), 400, "invalid-analytics-query")
    # an organization the matrix allows no aggregates at all
    world.gateway.register(
        "dealer-stats",
        ["crm"],
        ["analytics"],
        organization="dealer-sh-4s",
        allowed_purposes=["service_delivery"],
    )
    dealer = world.gateway.token("dealer-stats")
    assert_problem(ask(world.gateway, dealer, mileage("mean", 1.0), "service_delivery"), 403, "aggregate-not-allowed")
    # below the minimum cohort: a second process on the same data, with a minimum the fleet cannot reach
    size = ledger_size(world)
    strict = start_serve(
        tmp_path,
        world.gateway.data_dir,
        world.gateway.data_dir.parent / "data-upstreams.yaml",
        CONSENTRY_ANALYTICS_MIN_COHORT="1000",
    )
    try:
        refused = ask(strict, token(strict.base_url, world.seeded, "rnd"), mileage("quantile", 1.0))
        problem = assert_problem(refused, 403, "cohort-too-small")
        auditor = {"Authorization": f"Bearer {token(strict.base_url, world.seeded, 'auditor')}"}
        found = httpx.get(
            f"{strict.base_url}/v1/ledger/events", params={"after": size - 1}, headers=auditor, timeout=30
        ).json()["events"]
    finally:
        _stop(strict)
    assert problem["minimum_cohort"] == 1000
    # the refusal is an auditor-searchable entry, and the only one: nothing was answered or spent
    assert ledger_size(world) == size + 1
    (entry,) = found
    assert (entry["index"], entry["type"], entry["purpose"]) == (size, "access.refused", "joint_rnd")
    assert problem["ledger_index"] == size and refused.headers["Consentry-Ledger-Index"] == str(size)
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        payload = ledger.payload(size) or {}
    assert payload["reason"] == "cohort-too-small" and payload["minimum_cohort"] == 1000
    assert (payload["statistic"], payload["attribute"], payload["released"]) == ("quantile", "mileage_km", [])
    assert "quantile" not in answered(world)  # nothing refused here was recorded as answered


def answered(world: World) -> set[str]:
    engine = create_engine(world.gateway.database_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(analytics_queries.c.statistic)).scalars())
    finally:
        engine.dispose()


def ledger_size(world: World) -> int:
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        return ledger.size()


def spent(world: World, attributes: list[str]) -> float:
    engine = create_engine(world.gateway.database_url)
    try:
        with engine.connect() as conn:
            t = analytics_budgets.c
            value = conn.execute(select(t.epsilon_spent).where(t.attributes == ",".join(attributes))).scalar()
            return float(value or 0.0)
    finally:
        engine.dispose()


def test_a_budget_spent_to_the_end_refuses_with_what_is_left(world: World) -> None:
    rnd = world.token("rnd")
    body = {"source": "vehicle-cloud", "statistic": "histogram", "attribute": "model", "epsilon": 5.0}
    indices = []
    for _ in range(4):
        response = ask(world.gateway, rnd, body)
        assert response.status_code == 200, response.text
        assert response.json()["bins"] == list(FLEET_MODELS)
        indices.append(response.json()["ledger_index"])
    size = ledger_size(world)
    refused = assert_problem(ask(world.gateway, rnd, body), 403, "privacy-budget-exceeded")
    budget = refused["budget"]
    assert budget["epsilon_total"] == RND_BUDGET and budget["epsilon_remaining"] < 5.0
    assert budget["attributes"] == ["model"] and budget["resets_at"].endswith("T00:00:00Z")
    assert ledger_size(world) == size  # a refused query is neither answered nor recorded
    listed = httpx.get(
        world.gateway.base_url + "/v1/analytics/budgets", headers={"Authorization": f"Bearer {rnd}"}, timeout=30
    ).json()["budgets"]
    mine = next(b for b in listed if b["attributes"] == ["model"])
    assert mine["epsilon_spent"] == pytest.approx(spent(world, ["model"]))
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        costs = [ledger.payload(i)["epsilon"] for i in indices]
    assert sum(costs) == pytest.approx(mine["epsilon_spent"])


def _token_pattern(number: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){number}(?![0-9A-Za-z])")


def test_nothing_of_the_values_read_is_in_the_database_the_logs_or_the_ledger(world: World) -> None:
    assert spent(world, ["mileage_km"]) > 0  # the queries above read every consenting customer's mileage
    values = {r["vehicle"]["mileage_km"] for r in (*fleet_customers().values(), *DEMO_CUSTOMERS.values())}
    database = Path(world.gateway.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as conn:
        dump = "\n".join(conn.iterdump())
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        payloads = "\n".join(json.dumps(ledger.payload(i)) for i in range(ledger.size()))
    for where, text in (("database", dump), ("logs", world.gateway.logs()), ("ledger", payloads)):
        leaked = [v for v in values if _token_pattern(v).search(text)]
        assert not leaked, f"raw mileage {leaked} found in the {where}"
    assert "mileage" in world.gateway.logs()  # the log names what was asked, just never a value


@pytest.mark.postgres
def test_two_gateway_processes_never_both_spend_the_last_of_a_budget(tmp_path: Path, postgres_url: str) -> None:
    with VehicleCloudProcess(port=_free_port()) as upstream:
        seeded, upstreams = seed_data_dir(tmp_path / "data", upstream.url, database_url=postgres_url, fleet=True)
        shared = {"CONSENTRY_DATABASE_URL": postgres_url, "CONSENTRY_ISSUER": "https://gateway.example"}
        first = start_serve(tmp_path, tmp_path / "data", upstreams, **shared)
        try:
            second = start_serve(tmp_path, tmp_path / "data", upstreams, **shared)
            try:
                race(first, second, seeded_token(first, seeded), seeded_token(second, seeded), postgres_url)
            finally:
                _stop(second)
        finally:
            _stop(first)


def seeded_token(gateway: Gateway, seeded: Any) -> str:
    return token(gateway.base_url, seeded, "rnd")


def race(first: Gateway, second: Gateway, one: str, two: str, url: str) -> None:
    # 8 queries of 5 each against a budget of 20, half through each process, all at once: exactly 4 may pass
    body = mileage("sum", 5.0)
    jobs = [(first, one), (second, two)] * 4
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(lambda job: ask(job[0], job[1], body), jobs))
    passed = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(passed) == 4, [a.text for a in answers]
    for response in refused:
        assert_problem(response, 403, "privacy-budget-exceeded")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            total = conn.execute(select(analytics_budgets.c.epsilon_spent)).scalar_one()
    finally:
        engine.dispose()
    assert total == pytest.approx(sum(a.json()["epsilon"] for a in passed)) and total <= RND_BUDGET + 1e-9
    with Ledger.open(url, create=False) as ledger:
        types = [parse_envelope(ledger.entry(i))["type"] for i in range(ledger.size())]
    assert types.count(QUERY_EVENT) == 4
