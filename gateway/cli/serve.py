"""`consentry serve`: run the gateway with uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from gateway.app import create_app
from gateway.cli._common import load_settings


def serve(
    host: str | None = typer.Option(None, help="Bind address (default CONSENTRY_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, help="TCP port (default CONSENTRY_PORT or 8000)."),
) -> None:
    """Serve the gateway; creates keys and migrates the database at start."""
    settings = load_settings()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
