"""The application factory: one `create_app(settings)` that builds the whole service.

Adding a router: write `gateway/routers/<actor>.py` with an `APIRouter` whose routes declare their caller
through the dependencies in `gateway.dependencies`, and include it in `ROUTERS` below (or pass
`extra_routers=` to `create_app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from gateway.audit.integrity import audit_periodically
from gateway.events import run_outbox
from gateway.retention import sweep_retention
from gateway.rights import erasure, rectification
from gateway.routers import (
    admin,
    analytics,
    auditor,
    consents,
    customer,
    events,
    guardians,
    health,
    my_data,
    oauth,
    portal,
    profiles,
    proxy,
    receipt_interop,
    retention,
    sd_jwt,
    transfers,
    wallet,
    wellknown,
    zk,
    zk_wallet,
)
from gateway.routers import credentials as credentials_api
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.web.body_limits import BodySizeLimitMiddleware
from gateway.web.direct_routes import DirectApp, DirectRoutes
from gateway.web.idempotency import REPLAY_HEADER, IdempotencyMiddleware, IdempotentReplay
from gateway.web.observability import RequestContext, RequestContextMiddleware, configure_logging
from gateway.web.problems import ProblemDetails, document_problem_answers, install_problem_handlers
from gateway.web.request_head import SINGLETON_HEADERS, SingletonHeadersMiddleware

# Routes are matched in this order, so the proxy (every CRM read) comes first; no two routers share a path.
ROUTERS: tuple[APIRouter, ...] = (
    proxy.router,
    profiles.router,
    health.router,
    wellknown.router,
    oauth.router,
    customer.router,
    consents.router,
    guardians.router,
    my_data.router,
    transfers.router,
    admin.router,
    auditor.router,
    credentials_api.router,
    wallet.router,
    sd_jwt.router,
    receipt_interop.router,
    retention.router,
    zk.router,
    zk_wallet.router,
    analytics.router,
    events.router,
    portal.router,
)

SERVING_GC_THRESHOLDS = (3_000, 10, 10)  # see `create_app`: measured against 700 (the default) and 7,000

DESCRIPTION = """\
Consentry sits between the systems that hold customer data and the systems that want it, and releases
only what the enterprise's authorization matrix and the customer's consents both allow.

* **CRM and partner systems** authenticate with OAuth 2.0 client credentials (`/oauth/token`).
* **Customers** sign in with a password (`/v1/session`) and see only their own records.
* **Auditors** read signed checkpoints and Merkle proofs of the ledger.
* **Administrators** register clients and customers.

Every error is an RFC 9457 `application/problem+json` document whose `type` is a stable URI under
`https://consentry.dev/problems/`.
"""


def _attach(app: FastAPI, runtime: Runtime) -> None:
    """Hand the app its runtime, and the proxy's direct routes their collaborators, once."""
    app.state.runtime = runtime
    app.state.proxy = proxy.ProxyCollaborators(bearer=runtime.bearer, flow=runtime.access, integrity=runtime.integrity)


async def _on_replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    stored = exc.response
    return Response(
        stored.body, status_code=stored.status_code, media_type=stored.content_type, headers={REPLAY_HEADER: "true"}
    )


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    extra_routers: Sequence[APIRouter] = (),
    freeze_startup_heap: bool = False,
) -> FastAPI:
    """Build the gateway. The runtime (database, keys, migrations) starts with the app's lifespan unless
    one is handed in, so importing or generating OpenAPI never touches a database. Logging is a process
    concern and is configured by the entry point (`consentry serve`), not here.

    `freeze_startup_heap` is for a process that serves this app and nothing else (`consentry serve`): once
    started, everything alive is moved out of the cyclic garbage collector's reach (`gc.freeze`). Otherwise
    each full collection walks the ~175,000 objects of the imported libraries, the taxonomy and the app,
    about 100 ms of CPU during which no request moves; after it, a full collection walks only what serving
    allocated. Those objects live as long as the process anyway, so nothing is kept that would have been freed.

    Such a process also collects its youngest generation less often (`SERVING_GC_THRESHOLDS`). After the freeze
    the old generation is small, and CPython runs a full collection whenever the objects promoted since the last
    one exceed a quarter of it; at the default threshold every young collection promoted the in-flight requests'
    objects, so at concurrency 16 a full collection (6-14 ms, every request in flight stalled) ran about twice a
    second and set the latency tail. With 3,000 instead of 700, most of a request's objects are gone before a
    collection finds them: no full collection in 8 s of c16 load, and added p99 at c16 went from 6.7-29 ms (median
    9.0) to 4.3-7.9 ms (median 5.2).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        if owned:
            _attach(app, Runtime.start(settings))
        started: Runtime = app.state.runtime
        # The self-audit runs before the first request is served: a tampered log is never vouched for.
        await asyncio.to_thread(started.integrity.run)
        auditor = asyncio.get_running_loop().create_task(
            audit_periodically(started.integrity, started.settings.ledger_self_audit_seconds)
        )
        sweeper = asyncio.get_running_loop().create_task(erasure.sweep_erasures(app.state.runtime.erasures))
        # Change events to recipients: this process drains the outbox beside every other one.
        deliverer = asyncio.get_running_loop().create_task(run_outbox(app.state.runtime.outbox))
        corrector = asyncio.get_running_loop().create_task(
            rectification.sweep_rectifications(app.state.runtime.rectifications)
        )
        enforcer = asyncio.get_running_loop().create_task(sweep_retention(lambda: app.state.runtime.retention))
        thresholds = gc.get_threshold()
        if freeze_startup_heap:
            gc.collect()
            gc.freeze()
            gc.set_threshold(*SERVING_GC_THRESHOLDS)
        try:
            yield
        finally:
            for task in (auditor, sweeper, corrector, deliverer, enforcer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await erasure.stop_erasures(app.state.runtime.erasures)
            await rectification.stop_rectifications(app.state.runtime.rectifications)
            # Upstream connection pools belong to this server's event loop, whoever owns the runtime.
            await app.state.runtime.upstreams.aclose()
            if owned:
                app.state.runtime.close()
            gc.set_threshold(*thresholds)

    app = DirectApp(
        title="Consentry gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # The gateway keeps its own metrics (/metrics) and structured logs; FastAPI's OpenTelemetry hook would
        # otherwise look up the global providers on every request (2-3% of a proxied read's CPU) for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if runtime is not None:
        _attach(app, runtime)
    install_problem_handlers(app)
    app.add_exception_handler(IdempotentReplay, _on_replay)
    for router in (*ROUTERS, *extra_routers):
        app.include_router(router)

    # Starlette runs the last-added middleware first: request context, singleton headers, then body limit, then
    # idempotency. The proxy's direct routes are served ahead of all of them, with the same request context.
    context = RequestContext(lambda: app.state.runtime.metrics)
    app.add_middleware(IdempotencyMiddleware, store_getter=lambda: app.state.runtime.idempotency)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SingletonHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, context=context)
    app.direct = DirectRoutes(app, proxy.router.routes, context, SINGLETON_HEADERS)

    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Make `ProblemDetails` a named component so every documented error response can reference it."""
    original = app.openapi

    def openapi() -> dict:  # type: ignore[type-arg]
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ProblemDetails", ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        document_problem_answers(schema, without_dependencies=frozenset({"/healthz"}))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def worker_app() -> FastAPI:
    """The app of one `consentry serve --workers N` process: settings from the environment, its own runtime.

    The parent process created the keys and migrated the database before forking workers, so starting a
    runtime here only opens what exists.
    """
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_startup_heap=True)
