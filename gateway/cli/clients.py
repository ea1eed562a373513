"""`consentry client add|list|disable`: OAuth client registration from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gateway.auth.clients import ClientRegistrationError, taxonomy_vocabulary
from gateway.cli._common import fail, runtime

app = typer.Typer(help="OAuth clients (CRM systems, auditors, administrators).", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Option(..., help="Display name."),
    organization: str = typer.Option(..., help="The recipient organization."),
    role: list[str] = typer.Option(..., "--role", help="crm, auditor or admin (repeatable)."),
    scope: list[str] = typer.Option(..., "--scope", help="proxy, zk, ledger:read, metrics or admin (repeatable)."),
    purpose: list[str] = typer.Option([], "--purpose", help="An allowed purpose (repeatable)."),
    jurisdiction: str = typer.Option(..., help="ISO 3166 code, e.g. CN, DE or EU."),
    client_id: str | None = typer.Option(None, help="Chosen client id (default: random)."),
    jwks: Path | None = typer.Option(None, help="Public JWK Set file: registers a private_key_jwt client."),
) -> None:
    """Register a client and print it as JSON, with its secret (shown only this once). Its purposes, and a CRM
    client's organization, must be the taxonomy's: the decision engine could decide nothing else."""
    jwks_document = None
    if jwks is not None:
        try:
            jwks_document = json.loads(jwks.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"{jwks}: not a readable JSON file ({exc})") from exc
    with runtime(create=True) as started:  # enrolling is how a new gateway is set up
        try:
            client, secret = started.clients.register(
                client_id=client_id,
                name=name,
                organization=organization,
                roles=role,
                scopes=scope,
                allowed_purposes=purpose,
                jurisdiction=jurisdiction,
                auth_method="private_key_jwt" if jwks_document is not None else "client_secret_basic",
                jwks=jwks_document,
                vocabulary=taxonomy_vocabulary(started.policies.taxonomy),
            )
        except ClientRegistrationError as exc:
            raise fail(str(exc)) from exc
    typer.echo(json.dumps({**client.public_view(), "client_secret": secret}, indent=2))


@app.command("list")
def list_clients() -> None:
    """Print every registered client as JSON (no secrets)."""
    with runtime() as started:
        typer.echo(json.dumps([client.public_view() for client in started.clients.list()], indent=2))


@app.command("disable")
def disable(client_id: str = typer.Argument(..., help="The client to disable.")) -> None:
    """Disable a client: no new tokens, and its tokens stop working at once."""
    with runtime() as started:
        if not started.clients.set_disabled(client_id, True):
            raise fail(f"no client {client_id!r}")
    typer.echo(f"disabled {client_id}")
