"""`consentry customer add|list`: customer enrolment from the command line."""

from __future__ import annotations

import json

import typer

from gateway.auth.customers import CustomerExistsError, InvalidCustomerError
from gateway.auth.identity_index import IdentifierInUseError, InvalidIdentifierError
from gateway.auth.passwords import WeakPasswordError
from gateway.cli._common import fail, runtime
from gateway.rights import guardians
from gateway.rights.errors import CustomerRightsError

app = typer.Typer(help="Customer accounts.", no_args_is_help=True)


@app.command("add")
def add(
    username: str = typer.Option(..., help="Sign-in name."),
    jurisdiction: str = typer.Option(
        ..., help="A taxonomy jurisdiction: ISO 3166-1 alpha-2 (CN, DE) or ISO 3166-2 (US-CA)."
    ),
    display_name: str = typer.Option("", help="Shown in the portal."),
    customer_type: str = typer.Option("standard", help="Taxonomy customer type: standard, vip, minor…"),
    source_subject: str | None = typer.Option(
        None, help="The customer number source systems use in their paths (how the proxy finds the customer)."
    ),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, envvar="CONSENTRY_NEW_CUSTOMER_PASSWORD"
    ),
) -> None:
    """Enrol a customer (argon2id password hash, a custodial did:key) and print the account as JSON."""
    with runtime(create=True) as started:  # enrolling is how a new gateway is set up
        try:
            customer = started.customers.create(
                username=username,
                password=password,
                display_name=display_name,
                jurisdiction=jurisdiction,
                customer_type=customer_type,
                source_subject=source_subject,
                jurisdictions=started.policies.taxonomy.jurisdictions,
                customer_types=started.policies.taxonomy.customer_types,
            )
        except (CustomerExistsError, InvalidCustomerError, WeakPasswordError) as exc:
            raise fail(str(exc)) from exc
    account = {
        "customer_id": customer.customer_id,
        "username": customer.username,
        "customer_type": customer.customer_type,
        "source_subject": customer.source_subject,
        "did": customer.did,
    }
    typer.echo(json.dumps(account, indent=2))


@app.command("list")
def list_customers() -> None:
    """Print every customer account as JSON."""
    with runtime() as started:
        rows = [{"customer_id": c.customer_id, "username": c.username, "did": c.did} for c in started.customers.list()]
    typer.echo(json.dumps(rows, indent=2))


@app.command("link")
def link(
    customer_id: str = typer.Argument(..., help="The gateway's customer id."),
    source: str = typer.Argument(..., help="A registered source system, e.g. billing."),
    identifier: str = typer.Argument(..., help="The source's own identifier of the customer, e.g. ACC-880101."),
) -> None:
    """Record in the unified index that SOURCE knows the customer as IDENTIFIER (stored sealed)."""
    with runtime() as started:
        if started.customers.get(customer_id) is None:
            raise fail(f"no customer {customer_id!r}")
        if source not in started.upstreams.names:
            raise fail(f"no source system {source!r} is registered (CONSENTRY_UPSTREAMS_PATH)")
        try:
            linked = started.identities.link(customer_id, source, identifier, actor="cli")
        except (InvalidIdentifierError, IdentifierInUseError) as exc:
            raise fail(str(exc)) from exc
    typer.echo(json.dumps(linked.to_dict(), indent=2))


@app.command("links")
def links(customer_id: str = typer.Argument(..., help="The gateway's customer id.")) -> None:
    """Print the sources holding the customer and the identifier each uses, as JSON."""
    with runtime() as started:
        if started.customers.get(customer_id) is None:
            raise fail(f"no customer {customer_id!r}")
        found = [link.to_dict() for link in started.identities.links(customer_id)]
    typer.echo(json.dumps(found, indent=2))


@app.command("link-guardian")
def link_guardian(
    minor: str = typer.Option(..., help="The minor's username or customer id."),
    guardian: str = typer.Option(..., help="The guardian's username or customer id (an enrolled adult)."),
    actor: str = typer.Option("admin:cli", "--actor", help="Who records it, e.g. admin:alice."),
) -> None:
    """Link a guardian account to a minor (a ledger entry); the guardian then decides the minor's consents."""
    with runtime() as started:
        try:
            linked = guardians.link(started.policies, started.customers, minor=minor, guardian=guardian, actor=actor)
        except CustomerRightsError as exc:
            raise fail(exc.message) from exc
    typer.echo(json.dumps(linked, indent=2))


@app.command("unlink-guardian")
def unlink_guardian(
    minor: str = typer.Option(..., help="The minor's username or customer id."),
    guardian: str = typer.Option(..., help="The guardian's username or customer id."),
    actor: str = typer.Option("admin:cli", "--actor", help="Who records it, e.g. admin:alice."),
) -> None:
    """End a guardianship (a ledger entry); from then on the former guardian cannot act for the minor."""
    with runtime() as started:
        try:
            unlinked = guardians.unlink(
                started.policies, started.customers, minor=minor, guardian=guardian, actor=actor
            )
        except CustomerRightsError as exc:
            raise fail(exc.message) from exc
    typer.echo(json.dumps(unlinked, indent=2))
