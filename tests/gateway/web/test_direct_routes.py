"""`DirectRoutes`: which requests skip the ASGI stack, and that what they get is what the full stack would send.

The equivalence tests ask the same app twice, once with its direct routes and once without (`app.direct =
None`, everything through FastAPI's stack and the gateway's middleware), and compare status, body and the
raw header list byte for byte, the metrics counted and the access log lines written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.web.direct_routes import DirectApp, DirectRoutes
from gateway.web.json_response import RawJSONResponse
from gateway.web.observability import Metrics, RequestContext, RequestContextMiddleware
from gateway.web.problems import Problem, install_problem_handlers
from gateway.web.request_head import SINGLETON_HEADERS, SingletonHeadersMiddleware

pytestmark = pytest.mark.anyio

router = APIRouter(prefix="/v1")
TEMPLATE = "/v1/things/{source}/{path:path}"
REQUEST_ID = "req-0123456789"


class Boom(Exception):
    """An exception no handler is registered for."""


class Teapot(Exception):
    """An exception with a plain (not async) handler, which Starlette runs in its threadpool."""


def on_teapot(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"brewed": False}, status_code=418)


PROBLEMS = {
    "unauthorized": Problem(401, "unauthorized", "Needs a token.", headers={"WWW-Authenticate": 'Bearer realm="x"'}),
    "refused": Problem(403, "access-refused", "Nothing may be released."),
    "missing": Problem(404, "not-found", "No such record."),
    "upstream-down": Problem(502, "upstream-unavailable", "The upstream did not answer."),
    "circuit-open": Problem(503, "upstream-circuit-open", "Try later.", headers={"Retry-After": "3"}),
}


@router.get("/things/{source}/{path:path}")
async def thing(request: Request, source: str, path: str) -> JSONResponse:
    if path in PROBLEMS:
        raise PROBLEMS[path]
    if path == "boom":
        raise Boom("unexpected")
    if path == "teapot":
        raise Teapot()
    if path == "raw":
        return RawJSONResponse({"index": 7}, ((b"consentry-ledger-index", b"7"), (b"cache-control", b"no-store")))
    return JSONResponse({"source": source, "path": path, "query": dict(request.query_params)})


class Inner:
    """Counts what reaches the gateway's own middleware (the full stack)."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def make_app(seen: list[str], metrics: Metrics | None = None, *, direct: bool = True) -> DirectApp:
    """The middleware of `gateway.app.create_app` around a router of its own."""
    app = DirectApp()
    install_problem_handlers(app)
    app.add_exception_handler(Teapot, on_teapot)
    app.include_router(router)

    @app.post("/v1/things/{source}/{path:path}")
    async def post_thing(source: str, path: str) -> dict[str, Any]:
        return {"posted": path}

    registry = metrics or Metrics()
    context = RequestContext(lambda: registry)
    app.add_middleware(SingletonHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, context=context)
    app.add_middleware(Inner, seen=seen)
    if direct:
        app.direct = DirectRoutes(app, router.routes, context, SINGLETON_HEADERS)
    return app


def client_of(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test")


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
def client(seen: list[str]) -> httpx.AsyncClient:
    return client_of(make_app(seen))


async def test_a_get_of_a_direct_route_never_reaches_the_stack(client: httpx.AsyncClient, seen: list[str]) -> None:
    response = await client.get("/v1/things/vehicle-cloud/customers/cust-1001?x=1")
    assert response.status_code == 200
    # the `path` convertor keeps slashes; query parameters are the endpoint's to read
    assert response.json() == {"source": "vehicle-cloud", "path": "customers/cust-1001", "query": {"x": "1"}}
    assert seen == []


async def test_other_methods_and_other_paths_take_the_full_stack(client: httpx.AsyncClient, seen: list[str]) -> None:
    assert (await client.post("/v1/things/a/b")).json() == {"posted": "b"}
    assert (await client.get("/v1/other")).status_code == 404
    assert (await client.head("/v1/things/a/b")).status_code == 405
    assert seen == ["POST /v1/things/a/b", "GET /v1/other", "HEAD /v1/things/a/b"]


@pytest.mark.parametrize(
    "headers", [{"content-length": "2"}, {"transfer-encoding": "chunked"}], ids=["content-length", "chunked"]
)
async def test_a_get_announcing_a_body_takes_the_full_stack(
    client: httpx.AsyncClient, seen: list[str], headers: dict[str, str]
) -> None:
    async def chunks() -> Any:
        yield b"{}"

    content: Any = b"{}" if "content-length" in headers else chunks()
    response = await client.request("GET", "/v1/things/a/b", content=content)
    assert response.status_code == 200 and response.json()["path"] == "b"
    assert seen == ["GET /v1/things/a/b"]


async def test_an_empty_declared_body_is_still_served_directly(client: httpx.AsyncClient, seen: list[str]) -> None:
    response = await client.request("GET", "/v1/things/a/b", headers={"content-length": "0"})
    assert response.status_code == 200 and seen == []


async def test_a_repeated_singleton_header_is_refused_by_the_full_stack(
    client: httpx.AsyncClient, seen: list[str]
) -> None:
    response = await client.get("/v1/things/a/b", headers=[("Consentry-Purpose", "a"), ("Consentry-Purpose", "b")])
    assert response.status_code == 400 and response.json()["type"].endswith("/header-repeated")
    assert seen == ["GET /v1/things/a/b"]


async def test_a_plain_handler_answers_too(client: httpx.AsyncClient, seen: list[str]) -> None:
    response = await client.get("/v1/things/a/teapot")
    assert response.status_code == 418 and response.json() == {"brewed": False} and seen == []


async def test_an_unhandled_exception_is_a_500_problem_that_leaks_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/things/a/boom", headers={"X-Request-ID": REQUEST_ID})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == response.json()["request_id"] == REQUEST_ID
    assert "unexpected" not in response.text


async def test_the_unhandled_exception_reaches_the_server() -> None:
    app = make_app([])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with pytest.raises(Boom):
            await client.get("/v1/things/a/boom")


@pytest.mark.parametrize("incoming", [None, "short", "bad id with spaces"], ids=["none", "too-short", "insane"])
async def test_a_fresh_request_id_replaces_a_missing_or_insane_one(
    client: httpx.AsyncClient, incoming: str | None
) -> None:
    headers = {"X-Request-ID": incoming} if incoming else {}
    response = await client.get("/v1/things/a/missing", headers=headers)
    assert response.headers["x-request-id"] == response.json()["request_id"] != incoming
    assert len(response.headers.get_list("x-request-id")) == 1


def _counted(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every series' count (durations differ from run to run, so buckets and sums are left out)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name.endswith(("_total", "_count"))
    }


REQUESTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("/v1/things/vehicle-cloud/customers/cust-1001", []),
    ("/v1/things/vehicle-cloud/customers/cust-1001?a=1&a=2&b=", []),
    ("/v1/things/a/raw", []),
    *((f"/v1/things/a/{kind}", []) for kind in PROBLEMS),
    ("/v1/things/a/teapot", []),
    ("/v1/things/a/boom", []),
    ("/v1/things/a/b", [("Authorization", "Bearer x"), ("authorization", "Bearer y")]),
    ("/v1/things/a/b", [("X-Request-ID", "first-id-0001"), ("X-Request-ID", "second-id-0002")]),
]


@pytest.fixture
def access_log() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.mark.parametrize(
    ("path", "extra"), REQUESTS, ids=[f"{i}:{p.rsplit('/', 1)[-1]}" for i, (p, _) in enumerate(REQUESTS)]
)
async def test_the_direct_path_answers_counts_and_logs_as_the_full_stack_does(
    path: str, extra: list[tuple[str, str]], access_log: list[dict[str, Any]]
) -> None:
    answers = []
    for direct in (True, False):
        metrics = Metrics()
        access_log.clear()
        async with client_of(make_app([], metrics, direct=direct)) as client:
            headers = (
                [("X-Request-ID", REQUEST_ID), *extra] if not any(n == "X-Request-ID" for n, _ in extra) else extra
            )
            response = await client.get(path, headers=headers)
        lines = [{k: v for k, v in line.items() if k not in ("duration_ms", "exc_info")} for line in access_log]
        answers.append((response.status_code, response.headers.raw, response.content, _counted(metrics), lines))
    assert answers[0] == answers[1]
    assert answers[0][3]  # something was counted


async def test_the_matched_route_is_in_the_scope_for_metrics_and_logs() -> None:
    scopes: list[Scope] = []

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await app(scope, receive, send)

    app = make_app([])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://test") as client:
        await client.get("/v1/things/a/b")
    assert scopes[0]["route"].path == TEMPLATE
    assert scopes[0]["path_params"] == {"source": "a", "path": "b"}
    assert scopes[0]["app"] is app


def test_only_get_routes_of_fastapi_can_be_direct() -> None:
    other = APIRouter()

    @other.post("/x")
    async def post_x() -> None:
        return None

    app = DirectApp()
    with pytest.raises(ValueError, match="GET routes"):
        DirectRoutes(app, other.routes, RequestContext(Metrics), SINGLETON_HEADERS)
