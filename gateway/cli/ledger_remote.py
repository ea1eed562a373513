"""`consentry ledger verify --url`: audit a running gateway through its auditor API (see ledger.remote_audit)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import typer

from ledger.remote_audit import AuditFailure, AuditState, AuditUsageError, fetch_token, remote_audit

DEFAULT_STATE = Path.home() / ".consentry" / "audit-state.json"


def verify_remote(
    url: str,
    *,
    state_path: Path | None,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    log_keys: list[str] | None,
    as_json: bool,
    sample: int | None = None,
) -> None:
    """Exit 0 when the log verifies, 1 when it fails the audit, 2 when the audit cannot run."""
    base = url.rstrip("/")
    path = state_path or DEFAULT_STATE
    if token is None and not (client_id and client_secret):
        _fail("give --token, or --client-id and --client-secret of an auditor client", 2)
    try:
        state = AuditState.load(path, base)
        with httpx.Client(base_url=base, timeout=30) as http:
            bearer = token or fetch_token(http, str(client_id), str(client_secret))
            http.headers["Authorization"] = f"Bearer {bearer}"
            report = remote_audit(http, state, log_keys=log_keys, sample=sample)
        state.save(path)
    except AuditFailure as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "url": base, "reason": str(exc)}, sort_keys=True))
        _fail(f"audit of {base} failed: {exc}", 1)
    except AuditUsageError as exc:
        _fail(str(exc), 2)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {base}: {exc}", 2)
    except OSError as exc:
        _fail(f"cannot write the state file {path}: {exc}", 2)
    if as_json:
        body = {
            "ok": True,
            "url": base,
            "origin": report.origin,
            "size": report.size,
            "root": report.root,
            "proven_consistent_with": report.proven,
            "pinned_key_now": report.pinned_now,
            "entries_checked": report.entries_checked,
            "sampled": report.sampled,
            "state": str(path),
        }
        typer.echo(json.dumps(body, sort_keys=True))
        return
    if report.pinned_now:
        typer.echo(f"pinned the gateway's checkpoint verifier key(s) in {path} (trust on first use)")
    typer.echo(f"checkpoint of {report.origin} verifies: size {report.size}, root {report.root}")
    how = "random entries" if report.sampled else "new entries"
    typer.echo(f"re-hashed {report.entries_checked} {how}: each is in the signed tree")
    if report.proven:
        sizes = ", ".join(str(s) for s in report.proven)
        typer.echo(f"consistent with every checkpoint seen before (sizes {sizes}): the log only grew")


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
