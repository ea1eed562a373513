"""`consentry db upgrade`: apply every package's migrations in dependency order."""

from __future__ import annotations

import typer

from gateway.cli._common import runtime

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the ledger, the libraries and the gateway to their latest schema (idempotent); creates the data
    directory of a new deployment."""
    with runtime(create=True) as started:
        typer.echo(f"database at head: {', '.join(started.migrated)}")
