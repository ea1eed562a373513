"""`consentry bench NAME`: benchmarks live in `benchmarks/NAME.py` and return one JSON object.

The benchmarks are not part of the consentry wheel: they are their own distribution in the source tree
(`benchmarks/pyproject.toml`), which `make install` installs next to consentry. Without it the command
says so instead of failing on an import.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from types import ModuleType

import typer

NOT_INSTALLED = (
    "the benchmarks are not installed: they ship with the source tree, not the consentry wheel "
    "(run `make install` in a checkout)"
)


def _package() -> ModuleType | None:
    try:
        return importlib.import_module("benchmarks")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks":
            raise
        return None


def available() -> list[str]:
    package = _package()
    if package is None:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def bench(
    name: str = typer.Argument(..., help="Benchmark name: " + (", ".join(available()) or "none installed")),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quick: bool = typer.Option(False, "--quick", help="A smaller run that finishes in under a minute."),
) -> None:
    """Run one benchmark and print its figures (medians, and ratios against the peer in the same run)."""
    names = available()
    if not names:
        typer.echo(f"error: {NOT_INSTALLED}", err=True)
        raise typer.Exit(2)
    if name not in names:
        typer.echo(f"error: unknown benchmark {name!r}; available: {', '.join(names)}", err=True)
        raise typer.Exit(2)
    module = importlib.import_module(f"benchmarks.{name}")
    result = module.run(quick=quick)
    if as_json:
        json.dump(result, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for key, value in sorted(result.items()):
            typer.echo(f"{key}: {value}")
