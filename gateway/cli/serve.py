"""`consentry serve`: run the gateway with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from gateway.app import create_app
from gateway.cli._common import load_settings, runtime
from gateway.observability import configure_logging


def serve(
    host: str | None = typer.Option(None, help="Bind address (default CONSENTRY_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="TCP port (default CONSENTRY_PORT or 8000)."),
) -> None:
    """Serve the gateway; creates keys and migrates the database first, refusing to start on any problem."""
    settings = load_settings()
    configure_logging(settings.log_level)
    # Started here rather than in the app's lifespan so a bad key file or database is a one-line error.
    with runtime(settings) as started:
        uvicorn.run(
            create_app(settings, runtime=started),
            host=host or settings.host,
            port=port if port is not None else settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
