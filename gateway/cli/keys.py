"""`consentry keys rotate|list`: the signing keys in the data directory.

`token` and `checkpoint` are JWK rings (`gateway.keys`); `issuer` is the credential issuer's Multikey ring
(`credentials.IssuerKeyring`), whose public keys make up the gateway's did:web document.
"""

from __future__ import annotations

import json

import typer

from credentials import CredentialError
from gateway.cli._common import fail, load_settings, require_data_dir
from gateway.keys import RING_NAMES
from gateway.runtime import issuer_keyring, key_store
from keyfiles import KeyFileError

ISSUER = "issuer"
ALL_RINGS = (*RING_NAMES, ISSUER)

app = typer.Typer(help="Signing keys (token, issuer, checkpoint).", no_args_is_help=True)


@app.command("rotate")
def rotate(ring: str = typer.Argument(..., help=f"One of: {', '.join(ALL_RINGS)}.")) -> None:
    """Add a fresh key and make it current; earlier keys keep verifying what they signed."""
    settings = load_settings()
    require_data_dir(settings.data_dir)
    try:
        if ring == ISSUER:
            settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            (settings.data_dir / "keys").mkdir(exist_ok=True, mode=0o700)
            kid = issuer_keyring(settings).rotate().verification_method
        else:
            kid = key_store(settings).rotate(ring).kid
    except (KeyFileError, CredentialError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps({"ring": ring, "kid": kid}))


@app.command("list")
def list_keys() -> None:
    """Print the public keys: token and checkpoint rings as JWK Sets, the issuer as its did:web document."""
    settings = load_settings()
    require_data_dir(settings.data_dir)
    keys = key_store(settings)
    try:
        rings: dict[str, object] = {
            name: {**keys.ring(name).public_jwks(), "current": keys.ring(name).current_kid} for name in RING_NAMES
        }
        rings[ISSUER] = issuer_keyring(settings).did_document()
    except (KeyFileError, CredentialError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(json.dumps(rings, indent=2))
