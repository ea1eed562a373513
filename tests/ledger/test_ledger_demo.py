"""`consentry ledger demo`: the ledger demonstration on a throwaway database."""

from __future__ import annotations

from typer.testing import CliRunner

from gateway.cli import app


def test_the_demo_proves_verifies_and_catches_the_tampered_row() -> None:
    result = CliRunner().invoke(app, ["ledger", "demo"])
    assert result.exit_code == 0, result.output
    assert "consistency proof verifies" in result.stdout
    assert "full audit holds: 4 entries, 2 checkpoints" in result.stdout
    assert "the audit catches it: entry 1:" in result.stdout
