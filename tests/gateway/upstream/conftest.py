"""A real demo vehicle cloud on a free loopback port, with extra routes that misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.demo import BackgroundServer, create_vehicle_cloud_app

ALL_METHODS = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"]


async def flaky(request: Request) -> Response:
    """Answers 503 to the first ``failures`` requests of each method, then 200."""
    hits = request.app.state.hits[f"{request.method} {request.url.path}"]
    if hits <= int(request.path_params["failures"]):
        return JSONResponse({"error": "busy"}, status_code=503)
    return JSONResponse({"ok": True, "hits": hits})


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    return JSONResponse({"late": True})


async def big(request: Request) -> Response:
    return JSONResponse({"blob": "x" * int(request.query_params["size"])})


async def big_chunked(request: Request) -> Response:
    size = int(request.query_params["size"])

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"blob": "'
        for _ in range(size // 100):
            yield b"x" * 100
        yield b'"}'

    return StreamingResponse(chunks(), media_type="application/json")


async def echo_headers(request: Request) -> Response:
    headers = {
        "Connection": "close, X-Upstream-Private",
        "X-Upstream-Private": "internal",
        "X-Kept": "yes",
        "Set-Cookie": "session=upstream",
        "ETag": '"abc"',
    }
    return JSONResponse({"received": dict(request.headers)}, headers=headers)


ROUTES = [
    Route("/flaky/{failures}", flaky, methods=ALL_METHODS),
    Route("/slow", slow, methods=["GET", "POST"]),
    Route("/text", lambda r: PlainTextResponse("name: Li Wei"), methods=["GET"]),
    Route("/html-json", lambda r: Response('{"a": 1}', media_type="text/html"), methods=["GET"]),
    Route("/latin1", lambda r: Response('{"a": 1}', media_type="application/json; charset=iso-8859-1")),
    Route("/nan", lambda r: Response('{"a": NaN}', media_type="application/json"), methods=["GET"]),
    Route("/broken", lambda r: Response('{"a": ', media_type="application/json"), methods=["GET"]),
    Route("/lone-surrogate", lambda r: Response('{"a": "x\\udc00"}', media_type="application/json"), methods=["GET"]),
    Route(
        "/surrogate-pair",
        lambda r: Response('{"a": "\\ud83d\\ude97", "b": "\\\\ud800"}', media_type="application/json"),
        methods=["GET"],
    ),
    Route("/problem", lambda r: Response('{"title": "x"}', media_type="application/problem+json")),
    Route(
        "/bad-gzip",
        lambda r: Response(b"not gzip", headers={"content-encoding": "gzip"}, media_type="application/json"),
    ),
    Route("/deep", lambda r: Response("[" * 100 + "]" * 100, media_type="application/json"), methods=["GET"]),
    Route("/forbidden", lambda r: JSONResponse({"error": "no"}, status_code=403), methods=["GET"]),
    Route("/big", big, methods=["GET"]),
    Route("/big-chunked", big_chunked, methods=["GET"]),
    Route("/redirect", lambda r: RedirectResponse("http://198.51.100.1/elsewhere", status_code=302)),
    Route("/boom", lambda r: JSONResponse({"e": 1}, status_code=500), methods=["GET"]),
    Route("/echo-headers", echo_headers, methods=["GET", "POST"]),
    Route("/peer", lambda r: JSONResponse({"port": r.client.port if r.client else None}), methods=["GET"]),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def vehicle_cloud(free_port: int) -> Iterator[BackgroundServer]:
    """The demo vehicle cloud plus the misbehaving routes, served by uvicorn on a free port."""
    app = create_vehicle_cloud_app()
    app.router.routes.extend(ROUTES)
    with BackgroundServer(app, port=free_port) as server:
        yield server


def hits(server: BackgroundServer, method: str, path: str) -> int:
    counter: Any = server.app.state.hits  # type: ignore[attr-defined]
    return int(counter[f"{method} {path}"])
