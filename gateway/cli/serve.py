"""`consentry serve`: run the gateway with uvicorn, in one process or several sharing the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
import uvicorn
from fastapi import FastAPI
from prometheus_client import start_http_server

from gateway.app import create_app
from gateway.cli._common import fail, load_settings, runtime
from gateway.settings import Settings
from gateway.web.observability import Metrics, configure_logging
from gateway.web.request_head import DEFAULT_MAX_HEAD_BYTES, BoundedHeadProtocol


def serve(
    host: str | None = typer.Option(None, help="Bind address (default CONSENTRY_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="TCP port (default CONSENTRY_PORT or 8000)."),
    workers: int = typer.Option(
        1,
        help="Worker processes. Each is a whole gateway on the shared database: ledger appends serialise on it, "
        "consents are read from it on every decision; caches (tokens, clients) and /metrics are per process.",
    ),
    ssl_certfile: Path | None = typer.Option(
        None, help="Serve https with this PEM certificate (chain); set CONSENTRY_ISSUER to the https URL."
    ),
    ssl_keyfile: Path | None = typer.Option(None, help="The certificate's PEM private key."),
) -> None:
    """Serve the gateway; creates keys and migrates the database first, refusing to start on any problem."""
    if workers < 1:
        raise fail("--workers must be at least 1")
    settings = load_settings()
    configure_logging(settings.log_level)
    bind_host, bind_port = host or settings.host, port if port is not None else settings.port
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise fail("--ssl-certfile and --ssl-keyfile go together")
    certfile, keyfile = (str(ssl_certfile), str(ssl_keyfile)) if ssl_certfile and ssl_keyfile else (None, None)
    if workers > 1 and settings.metrics_listen is not None:
        raise fail(
            "CONSENTRY_METRICS_ADDRESS serves one process's metrics; with --workers each worker counts on its own "
            "and they cannot share the address: run one worker, or scrape /metrics with a `metrics` token"
        )
    # Started here rather than in the app's lifespan so a bad key file or database is a one-line error,
    # and so several workers never race to create keys or migrate.
    with runtime(settings, create=True) as started:
        if workers == 1:
            app = create_app(settings, runtime=started, freeze_startup_heap=True)
            with _metrics_listener(settings, started.metrics):
                _run(
                    app,
                    bind_host,
                    bind_port,
                    ssl_certfile=certfile,
                    ssl_keyfile=keyfile,
                    max_head_bytes=settings.max_request_head_bytes,
                )
            return
    _run(
        "gateway.app:worker_app",
        bind_host,
        bind_port,
        factory=True,
        workers=workers,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        max_head_bytes=settings.max_request_head_bytes,
    )


@contextmanager
def _metrics_listener(settings: Settings, metrics: Metrics) -> Iterator[None]:
    """Prometheus metrics on their own address (`CONSENTRY_METRICS_ADDRESS`), for the life of the server."""
    listen = settings.metrics_listen
    if listen is None:
        yield
        return
    try:
        server, thread = start_http_server(listen[1], addr=listen[0], registry=metrics.registry)
    except OSError as exc:
        raise fail(f"CONSENTRY_METRICS_ADDRESS {settings.metrics_address}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# uvicorn kills a worker that has not answered its supervisor's ping within this many seconds, and a new
# worker cannot answer until its interpreter has started. Its default, 5 s, is less than a worker takes to
# start on 2 busy cores (seen: killed at start, and again, while the other worker served alone).
WORKER_HEALTHCHECK_TIMEOUT_S = 60


def _run(
    app: FastAPI | str,
    host: str,
    port: int,
    *,
    factory: bool = False,
    workers: int | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        factory=factory,
        workers=workers,
        log_config=None,
        access_log=False,
        # The app reads X-Forwarded-For itself, from trusted proxies only (CONSENTRY_TRUSTED_PROXIES), and must
        # see the real TCP peer to decide whether it is one; uvicorn rewriting the peer would defeat that.
        proxy_headers=False,
        server_header=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        # Each request head is bounded while it arrives (431 beyond); the limit rides in uvicorn's own setting.
        http=BoundedHeadProtocol,
        h11_max_incomplete_event_size=max_head_bytes,
    )
