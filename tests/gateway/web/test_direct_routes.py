"""`DirectRoutes`: which requests skip FastAPI's stack, and that what they get is what FastAPI would send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.web.direct_routes import DirectRoutes
from gateway.web.problems import Problem, install_problem_handlers

pytestmark = pytest.mark.anyio

router = APIRouter(prefix="/v1")


class Boom(Exception):
    """An exception no handler is registered for."""


class Teapot(Exception):
    """An exception with a plain (not async) handler, which Starlette runs in its threadpool."""


def on_teapot(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"brewed": False}, status_code=418)


@router.get("/things/{source}/{path:path}")
async def thing(request: Request, source: str, path: str) -> JSONResponse:
    if path == "missing":
        raise Problem(404, "not-found", "No such record.")
    if path == "boom":
        raise Boom("unexpected")
    if path == "teapot":
        raise Teapot()
    return JSONResponse({"source": source, "path": path, "query": dict(request.query_params)})


class Inner:
    """Counts what reaches the layers inside `DirectRoutes` (FastAPI's own stack)."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


def make_app(seen: list[str]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_exception_handler(Teapot, on_teapot)
    app.include_router(router)

    @app.post("/v1/things/{source}/{path:path}")
    async def post_thing(source: str, path: str) -> dict[str, Any]:
        return {"posted": path}

    app.add_middleware(Inner, seen=seen)
    app.add_middleware(DirectRoutes, routes=router.routes)
    return app


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
def client(seen: list[str]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(seen), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_get_of_a_direct_route_never_reaches_the_inner_stack(
    client: httpx.AsyncClient, seen: list[str]
) -> None:
    response = await client.get("/v1/things/vehicle-cloud/customers/cust-1001?x=1")
    assert response.status_code == 200
    # the `path` convertor keeps slashes; query parameters are the endpoint's to read
    assert response.json() == {"source": "vehicle-cloud", "path": "customers/cust-1001", "query": {"x": "1"}}
    assert seen == []


async def test_other_methods_and_other_paths_take_the_full_stack(client: httpx.AsyncClient, seen: list[str]) -> None:
    assert (await client.post("/v1/things/a/b")).json() == {"posted": "b"}
    assert (await client.get("/v1/other")).status_code == 404
    assert seen == ["POST /v1/things/a/b", "GET /v1/other"]


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


async def test_a_problem_is_answered_by_the_applications_own_handler(client: httpx.AsyncClient) -> None:
    direct = await client.get("/v1/things/a/missing")
    full = await client.request("GET", "/v1/things/a/missing", content=b"{}")
    assert direct.status_code == full.status_code == 404
    assert direct.headers["content-type"] == full.headers["content-type"] == "application/problem+json"
    assert direct.json() == full.json()


async def test_a_plain_handler_answers_too(client: httpx.AsyncClient, seen: list[str]) -> None:
    response = await client.get("/v1/things/a/teapot")
    assert response.status_code == 418 and response.json() == {"brewed": False} and seen == []


async def test_an_unhandled_exception_reaches_the_server_error_layer(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/things/a/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "unexpected" not in response.text  # nothing internal leaks


async def test_the_matched_route_is_in_the_scope_for_metrics_and_logs() -> None:
    scopes: list[Scope] = []

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await app(scope, receive, send)

    app = make_app([])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://test") as client:
        await client.get("/v1/things/a/b")
    assert scopes[0]["route"].path == "/v1/things/{source}/{path:path}"
    assert scopes[0]["path_params"] == {"source": "a", "path": "b"}


def test_only_get_routes_of_fastapi_can_be_direct() -> None:
    other = APIRouter()

    @other.post("/x")
    async def post_x() -> None:
        return None

    with pytest.raises(ValueError, match="GET routes"):
        DirectRoutes(FastAPI(), routes=other.routes)
