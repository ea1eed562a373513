"""`consentry wallet …`: the customer's wallet (`wallet.cli`), under the same command as the rest.

Every argument goes to the wallet's own parser unchanged, so `consentry wallet --dir D run --gateway URL`
and `python -m wallet --dir D run --gateway URL` are the same program with the same exit codes.
"""

from __future__ import annotations

import typer

from wallet.cli import main as wallet_main


def wallet(ctx: typer.Context) -> None:
    """The customer's wallet: hold statements, answer questions with proofs, sign temporary grants."""
    raise typer.Exit(wallet_main(ctx.args))


WALLET_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
