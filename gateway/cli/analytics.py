"""`consentry analytics budget|history`: what each recipient has spent of its privacy budgets, and the aggregate
queries answered (from the database the gateway writes; every query is also a ledger entry)."""

from __future__ import annotations

import json

import typer

from gateway.analytics import BudgetStore, Contributions
from gateway.cli._common import fail, runtime

app = typer.Typer(help="Differentially private aggregates: budgets and history.", no_args_is_help=True)

ORGANIZATION = typer.Option(None, "--organization", help="Only this recipient organization (taxonomy id).")
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("budget")
def budget(organization: str | None = ORGANIZATION, as_json: bool = JSON) -> None:
    """Privacy budgets drawn on: per organization, purpose, source attribute set and period, ε spent and left."""
    with runtime() as started:
        states = BudgetStore(started.engine).list(organization)
    rows = [s.to_dict() for s in states]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No privacy budget has been drawn on yet.")
        return
    for row in rows:
        typer.echo(
            f"{row['period']}  {row['organization']}  {row['purpose']}  {row['source']}:{','.join(row['attributes'])}"
            f"  spent {row['epsilon_spent']:.4g} of {row['epsilon_total']:g}, {row['epsilon_remaining']:.4g} left"
            f" until {row['resets_at']}"
        )


@app.command("history")
def history(
    organization: str | None = ORGANIZATION,
    limit: int = typer.Option(100, "--limit", help="At most this many queries, newest first."),
    as_json: bool = JSON,
) -> None:
    """Answered aggregate queries, newest first: who asked what, for which purpose, at what ε (never a result)."""
    if not 1 <= limit <= 10_000:
        raise fail("--limit must be between 1 and 10000")
    with runtime() as started:
        records = Contributions(started.engine).history(organization=organization, limit=limit)
    rows = [r.to_dict() for r in records]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("No aggregate query has been answered yet.")
        return
    for row in rows:
        grouped = f" per {row['group_by']}" if row["group_by"] else ""
        typer.echo(
            f"{row['time']}  ledger {row['ledger_index']}  {row['organization']} ({row['client_id']})  {row['purpose']}"
            f"  {row['statistic']} of {row['source']}:{row['attribute']}{grouped}  ε={row['epsilon']:.4g}"
        )
