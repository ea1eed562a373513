"""The `consentry` command line: one Typer app, one sub-app per actor or library.

Sub-apps live in their own modules (`ledger`, `policy`, `consent`, `zk`, …) and are mounted here,
so each command group reads on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gateway.cli import analytics, clients, consent, customers, db, keys, policy, retention
from gateway.cli.bench import bench
from gateway.cli.demo import demo
from gateway.cli.ledger import app as ledger_app
from gateway.cli.ledger_demo import ledger_demo
from gateway.cli.openapi import openapi
from gateway.cli.serve import serve
from gateway.cli.wallet import WALLET_CONTEXT, wallet
from gateway.cli.zk import app as zk_app

app = typer.Typer(
    name="consentry",
    help="Consentry: consent ledger, policy decisions and the data-sovereignty gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("bench")(bench)
ledger_app.command("demo")(ledger_demo)
app.add_typer(ledger_app, name="ledger")
app.command("demo")(demo)
app.add_typer(policy.app, name="policy")
app.add_typer(consent.app, name="consent")
app.command("serve")(serve)
app.add_typer(db.app, name="db")
app.add_typer(clients.app, name="client")
app.add_typer(customers.app, name="customer")
app.add_typer(keys.app, name="keys")
app.command("openapi")(openapi)
app.add_typer(zk_app, name="zk")
app.add_typer(analytics.app, name="analytics")
app.add_typer(retention.app, name="retention")
app.command("wallet", context_settings=WALLET_CONTEXT, add_help_option=False)(wallet)


@app.callback()
def _root(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="The gateway's data directory (database and keys); overrides CONSENTRY_DATA_DIR for this command.",
    ),
) -> None:
    """Consentry: consent ledger, policy decisions and the data-sovereignty gateway."""
    if data_dir is not None:
        os.environ["CONSENTRY_DATA_DIR"] = str(data_dir)


def main() -> None:
    app()
