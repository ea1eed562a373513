"""An auditor, a CRM or a wallet verifies with `ledger` alone: importing it, or any of its modules outside
`ledger.store`, loads no database layer, no web framework, no HTTP client and nothing of the gateway.

Each import runs in a fresh interpreter, so a module the test process already loaded cannot hide one."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ledger

ROOT = Path(__file__).resolve().parents[2]
STORE = "ledger.store"
# Storage, web frameworks and the gateway; httpx too, since the remote auditor uses the caller's client.
FORBIDDEN = ("sqlalchemy", "alembic", "fastapi", "starlette", "psycopg", "gateway", "httpx")


def pure_modules() -> list[str]:
    """`ledger` and every module below it except the storage subpackage, found on disk without importing them."""
    found = ["ledger"]

    def walk(path: list[str], prefix: str) -> None:
        for info in pkgutil.iter_modules(path, prefix):
            if info.name == STORE:
                continue
            found.append(info.name)
            if info.ispkg:
                walk([str(Path(path[0], info.name.rpartition(".")[2]))], info.name + ".")

    walk(list(ledger.__path__), "ledger.")
    return sorted(found)


PURE = pure_modules()


def loaded_after_import(module: str) -> list[str]:
    probe = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(n for n in sys.modules if n.partition('.')[0] in {FORBIDDEN!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("module", PURE)
def test_a_pure_ledger_module_imports_alone(module: str) -> None:
    assert loaded_after_import(module) == []


def test_the_storage_side_is_what_loads_the_database_layer() -> None:
    """The probe can fail: the storage subpackage, imported the same way, does load SQLAlchemy and Alembic."""
    loaded = {name.partition(".")[0] for name in loaded_after_import(STORE)}
    assert {"sqlalchemy", "alembic"} <= loaded


def test_the_pure_api_is_defined_in_the_modules_checked() -> None:
    """Every name `ledger` exports comes from a module this file imports alone (none re-exported from storage)."""
    origins = {
        getattr(ledger, name).__module__ for name in ledger.__all__ if hasattr(getattr(ledger, name), "__module__")
    }
    assert origins
    assert origins <= set(PURE)
    assert STORE in {info.name for info in pkgutil.iter_modules(ledger.__path__, "ledger.")}
