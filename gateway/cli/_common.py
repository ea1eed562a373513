"""Helpers shared by the gateway's CLI commands: settings, runtime, and errors as messages not tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from gateway.runtime import Runtime
from gateway.settings import Settings
from keyfiles import KeyFileError
from ledger import LedgerError


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    """The CONSENTRY_* configuration, with what a command's own options say instead."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"CONSENTRY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise fail(f"bad configuration: {problems}") from exc


def require_data_dir(directory: Path) -> None:
    """Refuse a data directory that does not exist: the command would otherwise create an empty gateway there
    (new keys, new database) and answer from it as if it were the real one."""
    if not directory.is_dir():
        raise fail(
            f"the data directory {directory} does not exist; point CONSENTRY_DATA_DIR (or consentry --data-dir) at "
            "the gateway's data directory"
        )


@contextmanager
def runtime(settings: Settings | None = None, *, create: bool = False) -> Iterator[Runtime]:
    """A started runtime (keys created, database migrated) for one command; only with `create` over a data
    directory that does not exist yet."""
    settings = settings or load_settings()
    if not create:
        require_data_dir(settings.data_dir)
    try:
        started = Runtime.start(settings)
    except (KeyFileError, LedgerError) as exc:
        raise fail(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise fail(f"database {settings.db_url.split('@')[-1]}: {type(exc).__name__}: {exc.args[0]}", 1) from exc
    try:
        yield started
    finally:
        started.close()
