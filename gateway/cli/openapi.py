"""`consentry openapi`: print the service's OpenAPI document (what `openapi/openapi.json` holds)."""

from __future__ import annotations

import json
from typing import Any

import typer

from gateway.app import create_app
from gateway.settings import Settings

DOCUMENT_ISSUER = "https://gateway.example.com"


def openapi_document() -> dict[str, Any]:
    """Generated with fixed settings so the committed document does not depend on the environment."""
    return create_app(Settings(issuer=DOCUMENT_ISSUER)).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi() -> None:
    """Print the OpenAPI document; `consentry openapi > openapi/openapi.json` refreshes the committed copy."""
    typer.echo(render(), nl=False)
