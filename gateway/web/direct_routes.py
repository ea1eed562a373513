"""Serving the hottest routes ahead of the whole ASGI stack.

A proxied read spent more CPU in the framework than in the gateway's own work around it: the included
routers were scanned route by route, dependency solving ran for a route that takes only the request and two
path strings, and eight middleware layers (FastAPI's own server-error, telemetry and body-limit layers among
them) each wrapped the call and the response's `send`. The proxy routes need none of it: their endpoints read
the request themselves (`gateway.routers.proxy`) and return a finished response. So `DirectApp`, the
gateway's FastAPI, hands a request for one of those routes to `DirectRoutes` before any layer runs, which
matches the route by its own compiled path pattern, does what the layers would have done for it (request id,
metrics and access log through the same `RequestContext`; the app's exception handlers; the server-error
answer) and sends the response in one `http.response.start` and one `http.response.body`. The routes stay
registered with FastAPI, which documents them in the OpenAPI description and still serves what is declined.

Declined, and left to the full stack: any method but GET, any request announcing a body (the size limit and
its 413 stay where they are) and any request repeating a header that must appear once (the full stack's 400
`header-repeated`). Errors are answered by the application's own exception handlers, so a problem+json from
here is byte for byte the one the full stack would have sent; an exception with no handler is logged and
counted first, then answered by the app's catch-all handler and re-raised to the server, as the outermost
server-error layer does.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Collection, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from gateway.web.observability import RequestContext, SendWithId

__all__ = ["DirectApp", "DirectRoutes"]

_Matched = tuple[APIRoute, "re.Match[str]", bytes | None]


class DirectRoutes:
    """The direct routes of one app, with the request context and the singleton headers they honour."""

    def __init__(
        self, app: FastAPI, routes: Sequence[BaseRoute], context: RequestContext, singletons: Collection[bytes]
    ) -> None:
        self.app = app
        self.context = context
        self.singletons = frozenset(singletons)
        self.routes = [r for r in routes if isinstance(r, APIRoute) and r.methods == {"GET"}]
        if len(self.routes) != len(routes):
            raise ValueError("direct routes must be FastAPI GET routes")

    def match(self, scope: Scope) -> _Matched | None:
        """The route, its path match and the incoming request id, or None for the full stack."""
        if scope["method"] != "GET":
            return None
        path = scope["path"]
        for route in self.routes:
            found = route.path_regex.match(path)
            if found is not None:
                break
        else:
            return None
        # One pass over the head: what the request context needs, and whatever makes this path decline.
        request_id: bytes | None = None
        seen: set[bytes] = set()
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if request_id is None:
                    request_id = value
            elif name == b"content-length":
                if value != b"0":
                    return None
            elif name == b"transfer-encoding":
                return None
            elif name in self.singletons:
                if name in seen:
                    return None
                seen.add(name)
        return route, found, request_id

    async def serve(self, matched: _Matched, scope: Scope, receive: Receive, send: Send) -> None:
        route, found, incoming = matched
        scope["app"] = self.app
        request_id, started = self.context.open(scope, incoming)
        params = {name: route.param_convertors[name].convert(value) for name, value in found.groupdict().items()}
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = params
        request = Request(scope, receive)
        answer = SendWithId(send, request_id)
        try:
            try:
                try:
                    response = await route.endpoint(request, **params)
                except Exception as exc:
                    handled = await _handled(request, exc)
                    if handled is None:
                        raise
                    response = handled
                if type(response).__call__ is Response.__call__ and response.background is None:
                    status, headers = response.status_code, response.raw_headers
                    await answer({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": response.body})
                else:
                    await response(scope, receive, answer)
            finally:
                self.context.close(scope, answer.status, started)
        except Exception as exc:
            if not answer.started:
                failure = await _server_error(self.app, Request(scope), exc)
                await failure(scope, receive, send)
            raise


class DirectApp(FastAPI):
    """FastAPI whose `direct` routes, when set, are served ahead of its middleware stack.

    Not in debug mode, whose server-error layer answers with a traceback page: there everything takes the
    full stack."""

    direct: DirectRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self.direct
        if direct is not None and scope["type"] == "http" and not self.debug and not self.root_path:
            matched = direct.match(scope)
            if matched is not None:
                await direct.serve(matched, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _handled(request: Request, exc: Exception) -> Response | None:
    """The application's answer to `exc`, or None for the catch-all (the server-error answer).

    Handlers are looked up by exception class, as `gateway.web.problems.install_problem_handlers` registers them;
    Starlette's handlers keyed by status code are not consulted here, and the app registers none."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return await _call(handler, request, exc)
    return None


async def _server_error(app: FastAPI, request: Request, exc: Exception) -> Response:
    """What Starlette's `ServerErrorMiddleware` answers: the handler of 500 or `Exception`, else plain text."""
    handler = None
    for key, value in app.exception_handlers.items():
        if key in (500, Exception):
            handler = value
    if handler is None:
        return PlainTextResponse("Internal Server Error", status_code=500)
    return await _call(handler, request, exc)


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        return await handler(request, exc)  # type: ignore[no-any-return]
    return await run_in_threadpool(handler, request, exc)
