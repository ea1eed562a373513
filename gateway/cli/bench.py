"""`consentry bench NAME`: benchmarks live in `benchmarks/NAME.py` and return one JSON object."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import typer

import benchmarks


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


def bench(
    name: str = typer.Argument(..., help="Benchmark name: " + ", ".join(available())),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quick: bool = typer.Option(False, "--quick", help="A smaller run that finishes in under a minute."),
) -> None:
    """Run one benchmark and print its figures (medians, and ratios against the peer in the same run)."""
    if name not in available():
        typer.echo(f"error: unknown benchmark {name!r}; available: {', '.join(available())}", err=True)
        raise typer.Exit(2)
    module = importlib.import_module(f"benchmarks.{name}")
    result = module.run(quick=quick)
    if as_json:
        json.dump(result, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        for key, value in sorted(result.items()):
            typer.echo(f"{key}: {value}")
