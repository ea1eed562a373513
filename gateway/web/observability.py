"""Request ids, structured JSON logs and Prometheus metrics.

Every request gets an id (the caller's `X-Request-ID` if it is sane, else a fresh UUID), echoed in the
response and bound into every log line written while serving it, so one id finds a request across logs,
problem responses and clients' reports.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger import random_uuid4

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

log = structlog.get_logger("gateway.http")


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now, so a replaced stream (test capture, CLI runner) never strands
    the loggers on a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_access_log = True  # whether `request` lines at info level pass the configured filter (`configure_logging`)


def configure_logging(level: str) -> None:
    """JSON lines on stderr for our events and for every library logging through `logging` (uvicorn,
    alembic), with context variables (the request id) merged into each line."""
    global _access_log
    threshold = logging.getLevelNamesMapping()[level.upper()]
    _access_log = threshold <= logging.INFO
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


class Metrics:
    """One registry per app, so several apps (tests, two gateways in one process) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "consentry_http_requests_total",
            "HTTP requests served, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "consentry_http_request_duration_seconds",
            "Time to serve a request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.tokens_issued = Counter(
            "consentry_oauth_tokens_issued_total",
            "Access tokens issued, by client.",
            ["client_id"],
            registry=self.registry,
        )


def _route_template(scope: Scope) -> str:
    """The matched route's path template, never the raw path (which would explode label cardinality)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class _Series:
    """The labelled children of `Metrics` for one method, route and status, looked up once: `labels()` takes
    a lock and builds its key on every call, a price each request paid twice."""

    __slots__ = ("count", "latency")

    def __init__(self, metrics: Metrics, method: str, route: str, status: int) -> None:
        self.count = metrics.requests.labels(method, route, str(status))
        self.latency = metrics.latency.labels(method, route)


# A bound on the series kept: method, route template and status are bounded already, but a client may send any
# method name; past the bound the children are looked up every time (still counted, only slower).
MAX_CACHED_SERIES = 4096


class RequestContext:
    """Request id, metrics and the access log line of one app, around however a request is served: the
    middleware of the full stack and the direct routes (`gateway.web.direct_routes`) share one, so a request
    is counted and logged the same whichever path served it."""

    def __init__(self, metrics_getter: Callable[[], Metrics]) -> None:
        self.metrics_getter = metrics_getter
        self._metrics: Metrics | None = None
        self._series: dict[tuple[str, str, int], _Series] = {}

    def _record(self, method: str, route: str, status: int, elapsed: float) -> None:
        metrics = self.metrics_getter()
        if metrics is not self._metrics:  # another registry (a restarted runtime): its own children
            self._metrics, self._series = metrics, {}
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = _Series(metrics, method, route, status)
            if len(self._series) < MAX_CACHED_SERIES:
                self._series[key] = series
        series.count.inc()
        series.latency.observe(elapsed)

    def open(self, scope: Scope, incoming: bytes | None) -> tuple[bytes, float]:
        """Assign the request id (`incoming`, the first `X-Request-ID`, when sane) and bind it for logging;
        returns the id as a response header value and the start time to hand to `close`."""
        text = incoming.decode("latin-1") if incoming else None
        request_id = text if text and _SANE_REQUEST_ID.match(text) else random_uuid4()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return request_id.encode("latin-1"), time.perf_counter()

    def close(self, scope: Scope, status: int, started: float) -> None:
        """Count the request, write its access log line and unbind its id."""
        elapsed = time.perf_counter() - started
        route = _route_template(scope)
        self._record(scope["method"], route, status, elapsed)
        if _access_log:
            log.info(
                "request", method=scope["method"], route=route, status=status, duration_ms=round(elapsed * 1000, 3)
            )
        structlog.contextvars.unbind_contextvars("request_id")


def first_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value  # type: ignore[no-any-return]
    return None


class SendWithId:
    """A `send` that appends the request id to the response head and remembers the status it carried (500 until
    one is sent): the full stack's middleware and the direct routes answer through one."""

    __slots__ = ("id_field", "send", "started", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self.send = send
        self.id_field = (b"x-request-id", request_id)
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
            message["headers"] = [*message.get("headers", ()), self.id_field]
        await self.send(message)


class RequestContextMiddleware:
    """Assigns the request id, binds it for logging, and records metrics and one access log line."""

    def __init__(self, app: ASGIApp, context: RequestContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, started = self.context.open(scope, first_request_id(scope))
        answer = SendWithId(send, request_id)
        try:
            await self.app(scope, receive, answer)
        finally:
            self.context.close(scope, answer.status, started)
