"""`consentry demo`: the whole product on localhost — a vehicle cloud, a seeded gateway and the story to paste.

Starts the demo vehicle cloud and `consentry serve` on a fresh data directory (./data/demo by default,
wiped on every run and only if the demo made it), seeds customers, partner clients and consents, prints
ready-to-paste commands, and keeps both running until Ctrl-C. `consentry ledger demo` shows the ledger alone.

SIGINT and SIGTERM both stop it: the signal is forwarded to the gateway and the vehicle cloud and the demo waits
for them, so none is left running as an orphan. Both handlers are installed explicitly, because a shell starting
the demo in the background (`consentry demo &` in a script) hands it SIGINT ignored, and Python then leaves it so.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import typer

from gateway.demo.server import ServerStartError
from gateway.demo.stack import DemoDirectoryError, DemoStack

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DemoStopped(Exception):
    """The demo received SIGINT or SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise DemoStopped(signum)


def _handle_stop_signals(handler: Callable[[int, FrameType | None], None] | signal.Handlers) -> dict[int, object]:
    return {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}


def demo(
    data_dir: Path = typer.Option(Path("data/demo"), "--data-dir", help="Fresh demo data directory (wiped)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Gateway port on 127.0.0.1."),
    upstream_port: int = typer.Option(8701, "--upstream-port", min=1, max=65535, help="Vehicle cloud port."),
    billing_port: int = typer.Option(8702, "--billing-port", min=1, max=65535, help="Billing/loyalty system port."),
    insurer_port: int = typer.Option(8703, "--insurer-port", min=1, max=65535, help="Insurer port."),
    receiver_port: int = typer.Option(
        8704, "--receiver-port", min=1, max=65535, help="The marketing agency's webhook receiver port."
    ),
    https: bool = typer.Option(
        False,
        "--https",
        help="Serve the gateway over https with a self-signed certificate made for localhost, so status list and "
        "DID document URLs are https (for verifiers that fetch only https).",
    ),
) -> None:
    """Run the gateway and the demo's source systems, seeded, and print the story's commands."""
    stack = DemoStack(
        data_dir,
        port=port,
        upstream_port=upstream_port,
        billing_port=billing_port,
        insurer_port=insurer_port,
        receiver_port=receiver_port,
        https=https,
    )
    previous = _handle_stop_signals(_stop_on_signal)
    received: int = signal.SIGTERM
    try:
        try:
            stack.start()
        except (DemoDirectoryError, ServerStartError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        _tell_the_story(stack)
        stack.wait()
    except DemoStopped as stopped:
        received = stopped.signum
        typer.echo(f"\nstopping ({stopped})")
    finally:
        # A second Ctrl-C must not abandon the children half-stopped: stop() kills whatever lingers anyway.
        _handle_stop_signals(signal.SIG_IGN)
        try:
            stack.stop(received)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]


def _tell_the_story(stack: DemoStack) -> None:
    typer.echo(f"Consentry gateway  {stack.url}   (OpenAPI: {stack.url}/docs)")
    typer.echo(f"Consent portal     {stack.url}/portal/   (customers sign in below; zh-CN and en)")
    typer.echo(f"Vehicle cloud      {stack.upstream.url}")
    for name, partner in stack.partners.items():
        typer.echo(f"{name.capitalize():<19}{partner.url}")
    typer.echo(f"Data directory     {stack.data_dir}\n")
    if stack.certificate is not None:
        typer.echo(f"TLS certificate    {stack.certificate}   (self-signed for localhost; trust it first:)")
        typer.echo(f"  export CURL_CA_BUNDLE={stack.certificate} SSL_CERT_FILE={stack.certificate}\n")
    typer.echo("Customers (portal sign-in):")
    for subject, username, password in stack.accounts():
        typer.echo(f"  {subject}  {username:<14} password {password}")
    typer.echo("\nPaste these commands in another terminal (they need curl and jq):\n")
    for number, step in enumerate(stack.steps(), start=1):
        typer.echo(f"# {number}. {step.title}\n{step.command}\n")
    typer.echo("Li Wei's wallet answers on her own device (issue 15); run these in order:\n")
    for number, step in enumerate(stack.wallet_steps(), start=1):
        typer.echo(f"# W{number}. {step.title}\n{step.command}\n")
    typer.echo("Press Ctrl-C to stop.")
