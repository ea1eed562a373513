"""`consentry retention plan|run`: what the retention enforcer would do now, and doing it now.

`plan` only reads; `run` takes the same lease the gateway processes' sweeps take, so it never acts alongside one of
them (it reports that another holder is busy instead). Every action `run` takes is a ledger entry by
`system:retention`, searchable in the auditor API like any other.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from gateway.cli._common import runtime
from gateway.retention import run_retention, survey
from gateway.runtime import Runtime

app = typer.Typer(help="Retention: every purpose's periods, planned and enforced.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


def _lines(counts: dict[str, Any]) -> list[str]:
    lines = []
    for purpose, row in counts["purposes"].items():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(row["erase_payload_by_kind"].items()))
        lines.append(
            f"  {purpose}: lapse {row['lapse']}, erase payload {row['erase_payload']}"
            + (f" ({kinds})" if kinds else "")
            + f", delete at source {row['delete_at_source']}"
        )
    totals = counts["totals"]
    lines.append(
        f"  total: lapse {totals['lapse']}, erase payload {totals['erase_payload']}, "
        f"delete at source {totals['delete_at_source']}"
    )
    return lines


@app.command("plan")
def plan(as_json: bool = JSON) -> None:
    """What the next run would do now, per purpose and action (a dry run: nothing is changed)."""
    with runtime() as started:
        counts = survey(started.retention).counts()
    if as_json:
        typer.echo(json.dumps(counts, indent=2, ensure_ascii=False))
        return
    if not counts["purposes"]:
        typer.echo(f"Nothing is due at {counts['at']}.")
        return
    typer.echo(f"Due at {counts['at']}:")
    for line in _lines(counts):
        typer.echo(line)


@app.command("run")
def run(as_json: bool = JSON) -> None:
    """Do now what is due: lapse consents, erase payloads, ask sources to delete (each a ledger entry)."""
    with runtime() as started:
        report = asyncio.run(_run(started))
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if not report["ran"]:
        typer.echo("Another gateway process holds the retention lease and is running now; nothing was done here.")
        return
    if not report["counts"].get("purposes"):
        typer.echo(f"Nothing was due at {report['at']}.")
        return
    typer.echo(f"Done at {report['at']}:")
    for line in _lines(report["counts"]):
        typer.echo(line)
    for deletion in report["deletions"]:
        typer.echo(f"  source {deletion['source']}: deletion {deletion['deletion_id']} {deletion['status']}")


async def _run(started: Runtime) -> dict[str, Any]:
    try:
        return (await run_retention(started.retention)).to_dict()
    finally:
        await started.upstreams.aclose()
