"""`consentry consent`: record consents for administrative use and imports, withdraw them, show a history."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from gateway.cli._common import load_settings
from gateway.cli._common import runtime as gateway_runtime
from gateway.cli.policy_common import (
    DATABASE_URL,
    JSON,
    TAXONOMY,
    fail,
    guarded,
    parse_time,
    pseudonym_key,
    runtime,
)
from gateway.rights import consents
from gateway.rights.errors import CustomerRightsError
from policies import ConsentRecord, Notice

app = typer.Typer(help="Consent records (ISO/IEC TS 27560): grant, withdraw, history.", no_args_is_help=True)
KEY = typer.Option(
    None, "--pseudonym-key", help="Base64url HMAC key; default: the gateway's (CONSENTRY_PSEUDONYM_KEY or key file)."
)


def _record(r: ConsentRecord) -> dict[str, object]:
    return {
        "record_id": r.record_id,
        "kind": r.kind.value,
        "status": r.status.value,
        "purposes": list(r.purposes),
        "categories": list(r.categories),
        "recipients": list(r.recipients),
        "jurisdiction": r.jurisdiction,
        "given_by": r.given_by.value,
        "separate": r.separate,
        "cross_border": r.cross_border,
        "valid_until": r.valid_until.isoformat() if r.valid_until else None,
        "ledger_index": r.ledger_index,
    }


def _emit(record: ConsentRecord, as_json: bool) -> None:
    if as_json:
        json.dump(_record(record), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        typer.echo(f"{record.record_id} {record.kind.value} {record.status.value} (ledger index {record.ledger_index})")


@app.command("grant")
def grant(
    subject: str = typer.Option(..., "--subject"),
    purpose: list[str] = typer.Option(..., "--purpose", help="Repeat for several."),
    category: list[str] = typer.Option(..., "--category", help="Repeat for several; a parent covers its children."),
    recipient: list[str] = typer.Option(["any"], "--recipient", help="org:ID, role:ROLE or any; repeatable."),
    jurisdiction: str = typer.Option(..., "--jurisdiction"),
    actor: str = typer.Option(..., "--actor", help="Who records it, e.g. admin:alice or import:crm-2024."),
    kind: str = typer.Option("consent", "--kind", help="consent, objection or opt_out"),
    method: str = typer.Option("import", "--method", help="portal, api, wallet or import"),
    given_by: str = typer.Option("subject", "--given-by", help="subject or guardian"),
    separate: bool = typer.Option(False, "--separate", help="A separate consent (PIPL Art. 29)."),
    cross_border: bool = typer.Option(False, "--cross-border", help="Separate consent to transfer abroad (Art. 39)."),
    refused: bool = typer.Option(False, "--refused", help="Record a refusal instead of a consent."),
    valid_until: str | None = typer.Option(None, "--valid-until", help="RFC 3339 expiry."),
    notice_id: str | None = typer.Option(None, "--notice-id"),
    notice_version: str | None = typer.Option(None, "--notice-version"),
    notice_sha256: str | None = typer.Option(None, "--notice-sha256"),
    key: str | None = KEY,
    url: str | None = DATABASE_URL,
    taxonomy: Path = TAXONOMY,
    as_json: bool = JSON,
) -> None:
    """Record a consent (or objection, opt-out, refusal); acknowledged only once it is in the ledger."""
    until = parse_time(valid_until, "--valid-until")
    notice = None
    if notice_id or notice_version or notice_sha256:
        if not (notice_id and notice_version and notice_sha256):
            typer.echo("error: --notice-id, --notice-version and --notice-sha256 go together", err=True)
            raise typer.Exit(2)
        notice = Notice(notice_id, notice_version, notice_sha256)
    with runtime(url, taxonomy, key=pseudonym_key(key), create=True) as rt, guarded():
        record = rt.consents.grant(
            subject_id=subject,
            purposes=purpose,
            categories=category,
            recipients=recipient,
            jurisdiction=jurisdiction,
            actor=actor,
            kind=kind,
            method=method,
            given_by=given_by,
            separate=separate,
            cross_border=cross_border,
            refused=refused,
            notice=notice,
            valid_until=until,
        )
    _emit(record, as_json)


@app.command("withdraw")
def withdraw(
    record_id: str = typer.Argument(...),
    actor: str = typer.Option(..., "--actor"),
    key: str | None = KEY,
    url: str | None = DATABASE_URL,
    taxonomy: Path = TAXONOMY,
    as_json: bool = JSON,
) -> None:
    """Withdraw a consent (GDPR Art. 7(3)) as the portal and the consent API do: its receipts are revoked and the
    recipients it names are told (`consent.withdrawn`) in the withdrawal's ledger transaction; the next decision
    anywhere already sees it. Needs the gateway's data directory (its receipts and keys)."""
    overrides: dict[str, Any] = {"taxonomy_path": taxonomy}
    if url:
        overrides["database_url"] = url
    if key:
        pseudonym_key(key)  # refused here as every other consent command refuses it
        overrides["pseudonym_key"] = key
    with gateway_runtime(load_settings(**overrides)) as started, guarded():
        try:
            change = consents.withdraw_as_operator(started.policies, started.credentials, record_id, actor=actor)
        except CustomerRightsError as exc:
            raise fail(exc.message) from exc
    _emit(change.record, as_json)


@app.command("history")
def history(
    subject: str = typer.Option(..., "--subject"),
    url: str | None = DATABASE_URL,
    taxonomy: Path = TAXONOMY,
    as_json: bool = JSON,
) -> None:
    """Every consent event of a subject, oldest first, with its ledger index."""
    with runtime(url, taxonomy, key=b"\0" * 32, create=False) as rt, guarded():
        events = rt.consents.history(subject)
        records = {r.record_id: r for r in rt.consents.records(subject)}
    if as_json:
        json.dump(
            {
                "records": [_record(r) for r in records.values()],
                "events": [
                    {
                        "record_id": e.record_id,
                        "seq": e.seq,
                        "status": e.status.value,
                        "time": e.time.isoformat(),
                        "actor": e.actor,
                        "ledger_index": e.ledger_index,
                    }
                    for e in events
                ],
            },
            sys.stdout,
            indent=2,
            sort_keys=True,
        )
        sys.stdout.write("\n")
        return
    for e in events:
        r = records[e.record_id]
        typer.echo(
            f"{e.time.isoformat()} {e.record_id} {r.kind.value} {e.status.value} "
            f"purposes={','.join(r.purposes)} categories={','.join(r.categories)} "
            f"by {e.actor} (ledger index {e.ledger_index})"
        )
