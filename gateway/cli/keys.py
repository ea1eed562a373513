"""`consentry keys rotate|list`: the signing key rings in the data directory."""

from __future__ import annotations

import json

import typer

from gateway.cli._common import fail, load_settings
from gateway.keys import RING_NAMES, KeyFileError
from gateway.runtime import key_store

app = typer.Typer(help="Signing keys (token, issuer, checkpoint).", no_args_is_help=True)


@app.command("rotate")
def rotate(ring: str = typer.Argument(..., help=f"One of: {', '.join(RING_NAMES)}.")) -> None:
    """Add a fresh key and make it current; earlier keys keep verifying what they signed."""
    try:
        fresh = key_store(load_settings()).rotate(ring)
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps({"ring": ring, "kid": fresh.kid}))


@app.command("list")
def list_keys() -> None:
    """Print the public keys of every ring as JWK Sets."""
    keys = key_store(load_settings())
    try:
        rings = {name: {**keys.ring(name).public_jwks(), "current": keys.ring(name).current_kid} for name in RING_NAMES}
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(rings, indent=2))
