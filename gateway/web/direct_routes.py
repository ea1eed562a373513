"""Serving the hottest routes without FastAPI's per-request machinery.

A proxied read spends more CPU in FastAPI than in the gateway's own work around it: the included routers
are scanned route by route, FastAPI's own middleware layers wrap the call, and dependency solving runs even
for a route that takes only the request and two path strings. The proxy routes need none of it: their
endpoints read the request themselves (`gateway.routers.proxy`) and return a finished response. So this
middleware, inside the request-context middleware (request id, metrics, access log), matches those routes
by their own compiled path patterns and awaits their endpoints directly. The routes stay registered with
FastAPI, which documents them in the OpenAPI description and still serves what this path declines.

Declined, and left to the full stack: any method but GET, and any request announcing a body (the size limit
and its 413 stay where they are). Errors are answered by the application's own exception handlers, so a
problem+json from here is byte for byte the one FastAPI would have sent; an exception with no handler is
re-raised to the outermost server-error handler, as it would be from any other route.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DirectRoutes"]


def _announces_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [r for r in routes if isinstance(r, APIRoute) and r.methods == {"GET"}]
        if len(self.routes) != len(routes):
            raise ValueError("direct routes must be FastAPI GET routes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not _announces_body(scope):
            path = scope["path"]
            for route in self.routes:
                match = route.path_regex.match(path)
                if match is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, route: APIRoute, raw: dict[str, str], scope: Scope, receive: Receive, send: Send) -> None:
        params = {name: route.param_convertors[name].convert(value) for name, value in raw.items()}
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = params
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request, **params)
        except Exception as exc:
            handled = await _handled(request, exc)
            if handled is None:
                raise
            response = handled
        await response(scope, receive, send)


async def _handled(request: Request, exc: Exception) -> Response | None:
    """The application's answer to `exc`, or None for the catch-all (the server-error layer, outside).

    Handlers are looked up by exception class, as `gateway.web.problems.install_problem_handlers` registers them;
    Starlette's handlers keyed by status code are not consulted here, and the app registers none."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            if inspect.iscoroutinefunction(handler):
                return await handler(request, exc)  # type: ignore[no-any-return]
            return await run_in_threadpool(handler, request, exc)
    return None
