"""A source that lists a customer twice, or whose cursor never moves on, gets no answer computed: one customer
counted twice would void the privacy guarantee, and an endless export would hold a worker forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks._synthetic_cloud import subject
from benchmarks.analytics import _enrol
from gateway.analytics import AnalyticsQuery, AnalyticsService, Requester, Statistic
from gateway.demo import BackgroundServer
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.web.problems import Problem

PAGES: dict[str, dict[str, Any]] = {
    "repeats": {
        "": {"items": [{"subject": subject(1), "km": 10}, {"subject": subject(2), "km": 20}], "next": "a"},
        "a": {"items": [{"subject": subject(3), "km": 30}, {"subject": subject(2), "km": 25}], "next": None},
    },
    "stalls": {"": {"items": [{"subject": subject(1), "km": 10}], "next": "a"}, "a": {"items": [], "next": "a"}},
}


def source_app() -> Starlette:
    async def export(request: Request) -> JSONResponse:
        pages = PAGES[request.path_params["kind"]]
        return JSONResponse(pages[request.query_params.get("after", "")])

    return Starlette(routes=[Route("/{kind}/vehicles", export)])


@pytest.fixture
def service(tmp_path: Path, free_port: int) -> Iterator[tuple[AnalyticsService, Runtime]]:
    with BackgroundServer(source_app(), port=free_port) as server:
        registry = {
            "upstreams": [
                {
                    "name": kind,
                    "base_url": server.url,
                    "subject": "/customers/{subject}",
                    "fields": [{"selector": "/km", "category": "vehicle.mileage"}],
                    "bulk": {"path": f"/{kind}/vehicles", "page_size": 10},
                    "attributes": [
                        {
                            "name": "km",
                            "selector": "/km",
                            "category": "vehicle.mileage",
                            "type": "integer",
                            "bounds": [0, 100],
                        }
                    ],
                }
                for kind in PAGES
            ]
        }
        path = tmp_path / "upstreams.yaml"
        path.write_text(yaml.safe_dump(registry))
        runtime = Runtime.start(Settings(data_dir=tmp_path / "data", upstreams_path=path))
        try:
            _enrol(runtime.engine, 3)
            yield (
                AnalyticsService(
                    engine=runtime.engine,
                    ledger=runtime.ledger,
                    decisions=runtime.policies.engine,
                    taxonomy=runtime.policies.taxonomy,
                    matrix_rules=runtime.policies.matrix.rules,
                    upstreams=runtime.upstreams,
                    pseudonym=runtime.subject_pseudonym,
                    min_cohort=2,
                    max_epsilon=5.0,
                ),
                runtime,
            )
        finally:
            runtime.close()


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_no_answer_and_nothing_spent(service: tuple[AnalyticsService, Runtime], kind: str) -> None:
    analytics, runtime = service
    rnd = Requester("rnd", "stuttgart-rnd", "client:rnd", frozenset({"joint_rnd"}))
    size = runtime.ledger.size()

    async def ask() -> None:
        try:
            await analytics.answer(rnd, "joint_rnd", AnalyticsQuery(kind, "km", Statistic.COUNT, 1.0))
        finally:
            await runtime.upstreams.aclose()  # its pooled client belongs to this event loop

    with pytest.raises(Problem) as refused:
        asyncio.run(ask())
    assert (refused.value.status, refused.value.kind) == (502, "upstream-response-refused")
    assert runtime.ledger.size() == size
    assert analytics.budgets.list() == [] and analytics.contributions.history() == []
