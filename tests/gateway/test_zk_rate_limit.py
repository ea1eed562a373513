"""The per-client limit of predicate queries in process: `CONSENTRY_ZK_QUERY_*` configure it, every query spends
it whatever the outcome (unknown attribute, bad predicate, policy refusal), and the query beyond it is refused
before anything is decided or recorded. Over real HTTP: tests/e2e/test_zk_rate_limits.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gateway.auth.rate_limits import RateLimit, RateLimiter
from gateway.runtime import Runtime
from gateway.web.problems import Problem
from gateway.zk.service import ZkService, ZkSettings
from tests.gateway.test_zk_queries import ask, enrol, principal


def test_the_environment_configures_the_query_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: Runtime
) -> None:
    monkeypatch.setenv("CONSENTRY_ZK_QUERY_RATE", "0.5")
    monkeypatch.setenv("CONSENTRY_ZK_QUERY_BURST", "7")
    service = ZkService.create(tmp_path, runtime.ledger, frozenset(runtime.policies.taxonomy.categories), ZkSettings())
    assert service.limiter.limit == RateLimit(rate=0.5, burst=7)


def _refused(runtime: Runtime, attribute: str, predicate: dict[str, object], client_id: str = "finance-crm") -> Problem:
    with pytest.raises(Problem) as caught:
        ask(runtime, attribute, predicate, dataclasses.replace(principal(), client_id=client_id))
    return caught.value


def test_every_query_spends_the_allowance_and_the_one_beyond_is_neither_decided_nor_recorded(
    runtime: Runtime,
) -> None:
    enrol(runtime)  # no consent: a query about the income is refused by the policy and recorded
    runtime.zk.limiter = RateLimiter(RateLimit(rate=0.001, burst=3), clock=lambda: 0.0)
    assert _refused(runtime, "shoe_size", {"op": ">=", "operands": [40]}).kind == "unknown-attribute"
    assert _refused(runtime, "age", {"op": ">=", "operands": [300]}).kind == "invalid-predicate"
    assert _refused(runtime, "annual_income_cents", {"op": ">=", "operands": [1]}).kind == "policy-refused"

    size = runtime.ledger.size()
    limited = _refused(runtime, "annual_income_cents", {"op": ">=", "operands": [1]})
    assert (limited.status, limited.kind) == (429, "too-many-requests")
    assert int(limited.headers["Retry-After"]) >= 1
    assert runtime.ledger.size() == size

    other = _refused(runtime, "annual_income_cents", {"op": ">=", "operands": [1]}, client_id="finance-batch")
    assert other.kind == "policy-refused"  # another client has its own allowance
    assert runtime.ledger.size() == size + 1
