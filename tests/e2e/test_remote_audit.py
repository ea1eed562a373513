"""`consentry ledger verify --url`: an auditor outside the operator audits a running gateway over HTTP.

Issue 4, "The auditor API": the verifier keeps every checkpoint it has seen in a local file and proves
consistency with them on every run, so a log rewritten between two audits is detected — here by restoring
an older copy of the database and appending different entries until it is longer than before.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner, Result

from gateway.cli import app
from ledger import Event
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _stop


def append(gateway: Gateway, count: int, label: str) -> None:
    with Ledger.open(gateway.database_url, create=False) as ledger:
        ledger.append_many([Event("test.event", f"test:{label}", None, {"n": n}) for n in range(count)])


def audit(gateway: Gateway, state: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        app,
        [
            "ledger",
            "verify",
            "--url",
            gateway.base_url,
            "--state",
            str(state),
            "--client-id",
            "auditor",
            "--client-secret",
            gateway.secrets["auditor"],
            *extra,
        ],
    )


def test_growth_verifies_and_a_rewrite_between_audits_is_named(
    start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = start_gateway()
    gateway.register("auditor", ["auditor"], ["ledger:read"])
    state = tmp_path / "audit-state.json"
    append(gateway, 3, "original")
    backup = tmp_path / "backup.db"
    database = Path(gateway.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)

    first = audit(gateway, state, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["ok"] and report["pinned_key_now"] and report["proven_consistent_with"] == []
    assert state.stat().st_mode & 0o777 == 0o600
    # a checkpoint not signed by the key the auditor trusts fails, whatever the gateway publishes
    foreign = "other.example/ledger+00000000+AUTc4O7dcnU+P/ZyaXbGG9HbKoFmG6ezVJxLyXd0SDvC"
    wrong_key = audit(gateway, tmp_path / "other-state.json", "--log-key", foreign)
    assert wrong_key.exit_code == 1 and "does not verify" in wrong_key.stderr

    append(gateway, 2, "more")
    second = audit(gateway, state, "--json")
    assert second.exit_code == 0, second.output
    grown = json.loads(second.stdout)
    assert grown["size"] > report["size"] and grown["proven_consistent_with"] == [report["size"]]
    assert not grown["pinned_key_now"]

    # The operator restores the older copy and writes a different history, longer than the one audited.
    port = int(gateway.base_url.rsplit(":", 1)[1])
    _stop(gateway)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(backup) as copy, sqlite3.connect(database) as restored:
        copy.backup(restored)
    restarted = start_gateway(port=port, data_dir=gateway.data_dir)
    restarted.secrets.update(gateway.secrets)
    append(restarted, 6, "forged")

    third = audit(restarted, state)
    assert third.exit_code == 1
    assert "rewritten" in third.stderr and f"size {grown['size']}" in third.stderr
    assert third.exception is None or isinstance(third.exception, SystemExit)


def test_without_credentials_it_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ledger", "verify", "--url", "http://127.0.0.1:9", "--state", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 2 and "--client-id" in result.stderr
