"""Issue 17, point 13: the CLI never silently answers from the wrong database.

A command that reads the gateway's state refuses a data directory that does not exist (naming
CONSENTRY_DATA_DIR and --data-dir, exit 2, nothing created), and `consentry ledger …` defaults to the gateway's
own database and checkpoint keys.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.runtime import Runtime
from gateway.settings import Settings
from ledger import Event

COMMANDS = [
    ["client", "list"],
    ["customer", "list"],
    ["keys", "list"],
    ["ledger", "verify"],
    ["ledger", "export"],
    ["policy", "history"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_data_directory_is_refused_and_not_created(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"CONSENTRY_DATA_DIR": None, "CONSENTRY_DATABASE_URL": None})
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "CONSENTRY_DATA_DIR" in result.stderr and "--data-dir" in result.stderr
    assert not (tmp_path / "data").exists()

    elsewhere = tmp_path / "not-here"
    flagged = runner.invoke(app, ["--data-dir", str(elsewhere), *command])
    assert flagged.exit_code == 2 and str(elsewhere) in flagged.stderr
    assert not elsewhere.exists()


def test_ledger_commands_default_to_the_gateways_database_and_keys(tmp_path: Path) -> None:
    data_dir = tmp_path / "gateway"
    runtime = Runtime.start(Settings(data_dir=data_dir))
    try:
        runtime.ledger.append_many([Event("test.event", "test:cli", None, {"n": n}) for n in range(3)])
        size = runtime.checkpoints.latest().checkpoint.size
    finally:
        runtime.close()
    runner = CliRunner(env={"CONSENTRY_DATABASE_URL": None})
    verified = runner.invoke(app, ["--data-dir", str(data_dir), "ledger", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["size"] == size and report["checkpoints"] >= 1

    with sqlite3.connect(data_dir / "consentry.db") as db:
        (data,) = db.execute("SELECT data FROM ledger_entries WHERE idx = ?", (size - 2,)).fetchone()
        db.execute(
            "UPDATE ledger_entries SET data = ? WHERE idx = ?", (data.replace(b"test:cli", b"test:CLI"), size - 2)
        )
    tampered = runner.invoke(app, ["--data-dir", str(data_dir), "ledger", "verify"])
    assert tampered.exit_code == 1 and f"entry {size - 2}" in tampered.stderr
