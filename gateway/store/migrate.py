"""Alembic for the gateway's own chain, and `upgrade_all`, which migrates every package in dependency order.

Each package keeps its own version table, so they migrate independently in one database.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

VERSION_TABLE = "alembic_version_gateway"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Libraries that own tables, in dependency order after the ledger; each exports `upgrade(engine)` from the
# package or its `migrations` module.
LIBRARY_MIGRATIONS = ("policies", "credentials")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the gateway's tables to `revision`; by default every head, so revisions added side by side on
    parallel branches (each revising the same parent) all apply without a merge revision."""
    command.upgrade(alembic_config(engine), revision)


def _find_upgrader(package: str) -> Callable[[Engine], None] | None:
    """`<package>.upgrade`, or `<package>.migrations.upgrade`; None when the package is not installed."""
    for module_name in (package, f"{package}.migrations"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name not in (package, module_name):
                raise
            continue
        upgrader = getattr(module, "upgrade", None)
        if callable(upgrader):
            return upgrader  # type: ignore[no-any-return]
    return None


def library_upgraders() -> list[tuple[str, Callable[[Engine], None]]]:
    """The migration entry points of the libraries that are installed and have one, in dependency order."""
    found: list[tuple[str, Callable[[Engine], None]]] = []
    for name in LIBRARY_MIGRATIONS:
        upgrader = _find_upgrader(name)
        if upgrader is not None:
            found.append((name, upgrader))
    return found


def upgrade_all(engine: Engine) -> list[str]:
    """Migrate the libraries, then the gateway; the ledger migrates itself in `Ledger.open`.

    Returns the names of the chains that ran, so the CLI can say what it did.
    """
    ran = []
    for name, upgrader in library_upgraders():
        upgrader(engine)
        ran.append(name)
    upgrade(engine)
    ran.append("gateway")
    return ran
