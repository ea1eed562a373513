"""Options and error handling shared by `consentry policy` and `consentry consent`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import typer
from pydantic import ValidationError as PydanticValidationError

from gateway.cli._common import require_data_dir
from gateway.runtime import key_store
from gateway.settings import Settings
from keyfiles import KeyFileError
from ledger import LedgerError
from ledger.b64 import Base64Error, b64url_decode
from ledger.store import Ledger
from policies import DEFAULT_MATRIX, DEFAULT_TAXONOMY, PolicyError
from policies.runtime import PolicyRuntime, open_policies

TAXONOMY = typer.Option(DEFAULT_TAXONOMY, "--taxonomy", envvar="CONSENTRY_TAXONOMY", help="Taxonomy YAML file.")
MATRIX = typer.Option(DEFAULT_MATRIX, "--matrix", help="Matrix YAML file.")
DATABASE_URL = typer.Option(
    None,
    "--database-url",
    envvar="CONSENTRY_DATABASE_URL",
    help="SQLAlchemy URL; default: the gateway's (SQLite consentry.db in $CONSENTRY_DATA_DIR).",
)
JSON = typer.Option(False, "--json", help="Print one JSON object.")


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except PydanticValidationError as exc:
        raise fail(f"bad CONSENTRY_* configuration: {exc.errors()[0]['msg']}") from None


def database_url(url: str | None) -> str:
    """The given URL, or the gateway's own (CONSENTRY_DATABASE_URL, else SQLite in the data directory, which
    must exist)."""
    if url:
        return url
    settings = _settings()
    if settings.database_url is None:
        require_data_dir(settings.data_dir)
    return settings.db_url


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{name}: {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise fail(f"{name}: {value!r} has no UTC offset")
    return moment


def pseudonym_key(value: str | None) -> bytes:
    """The given key, or the gateway's (CONSENTRY_PSEUDONYM_KEY, else the key file in the data directory), so
    consents recorded here carry the same pseudonyms as the gateway's own ledger entries."""
    if not value:
        try:
            return key_store(_settings()).secret("pseudonym")
        except KeyFileError as exc:
            raise fail(str(exc)) from None
    try:
        key = b64url_decode(value, canonical=False)
    except Base64Error:
        raise fail("the pseudonym key is not base64url") from None
    if len(key) < 16:
        raise fail("the pseudonym key must be at least 16 bytes")
    return key


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Library errors become one line on stderr and exit 2, never a traceback."""
    try:
        yield
    except (PolicyError, LedgerError) as exc:
        raise fail(str(exc)) from None


@contextlib.contextmanager
def runtime(url: str | None, taxonomy: Path, *, key: bytes, create: bool) -> Iterator[PolicyRuntime]:
    with guarded():
        ledger = Ledger.open(database_url(url), create=create)
        try:
            rt = open_policies(database_url(url), pseudonym_key=key, taxonomy=taxonomy, ledger=ledger, actor="system")
            try:
                yield rt
            finally:
                rt.close()
        finally:
            ledger.close()
