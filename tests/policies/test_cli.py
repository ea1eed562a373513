"""`consentry policy …` and `consentry consent …`: real files, a real database, exit codes and messages."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from policies import DEFAULT_MATRIX

GRANT_U1 = ["consent", "grant", "--subject", "u1", "--purpose", "repair_prediction", "--category", "vehicle"]
EXPLAIN_NOBODY = ["policy", "explain", "--recipient", "nobody", "--subject", "u2"]
KEY = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")


@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONSENTRY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CONSENTRY_PSEUDONYM_KEY", KEY)
    return CliRunner()


def test_check_accepts_the_demo_files_and_lists_conflicts(cli: CliRunner) -> None:
    result = cli.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.stdout and "minors_without_guardian_consent" in result.stdout
    assert cli.invoke(app, ["policy", "check", "--strict"]).exit_code == 1
    data = json.loads(cli.invoke(app, ["policy", "check", "--json"]).stdout)
    assert data["matrix"]["rules"] > 30 and len(data["taxonomy"]["sha256"]) == 64


def test_check_names_file_and_line_of_each_problem(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "matrix.yaml"
    bad.write_text("version: 1\nrules:\n  - {id: a, effect: allow, role: pilot}\n  - {id: b, effect: maybe}\n")
    result = cli.invoke(app, ["policy", "check", "--matrix", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3: rule 'a': unknown role 'pilot'" in result.stderr
    assert f"{bad}:4: rule 'b': unknown effect 'maybe'" in result.stderr
    assert "Traceback" not in result.output


def test_agreement_in_chinese_is_versioned_and_hash_recorded(cli: CliRunner) -> None:
    result = cli.invoke(app, ["policy", "agreement", "--jurisdiction", "CN", "--lang", "zh-CN", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "个人信息处理告知书" in doc["text"] and "单独同意" in doc["text"]
    assert doc["sha256"] == hashlib.sha256(doc["text"].encode()).hexdigest()
    assert "rnd-location" in doc["rules"]
    bad = cli.invoke(app, ["policy", "agreement", "--jurisdiction", "CN", "--lang", "fr"])
    assert (bad.exit_code, bad.stderr.strip()) == (2, "error: unknown language 'fr'")


def test_dpia_rates_every_flow_writes_markdown_and_json_and_fails_on_a_high_risk(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = cli.invoke(app, ["policy", "dpia", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 1  # the minors' precise location abroad is a high residual risk
    assert "high residual risk: location.precise -> stuttgart-rnd [DE] for joint_rnd, minor" in result.stderr
    flows = json.loads(result.stdout)["flows"]
    assert json.loads((tmp_path / "dpia.json").read_text())["flows"] == flows
    assert (tmp_path / "dpia.md").read_text().startswith("# Data protection impact assessment")
    assert {"category": "location.precise", "recipient": "stuttgart-rnd"}.items() <= next(
        f for f in flows if f["category"] == "location.precise" and f["recipient"] == "stuttgart-rnd"
    ).items()
    assert not any(f["category"].startswith("biometric") for f in flows)


def test_grant_explain_withdraw_history(cli: CliRunner, tmp_path: Path) -> None:
    explain = ["policy", "explain", "--recipient", "dealer-sh-4s", "--subject", "u1", "--category", "vehicle.vin"]
    explain += ["--category", "identity.national_id", "--purpose", "repair_prediction", "--json"]
    granted = cli.invoke(
        app,
        [*GRANT_U1, "--jurisdiction", "CN", "--actor", "admin:alice", "--json"],
    )
    assert granted.exit_code == 0, granted.output
    record = json.loads(granted.stdout)
    decision = json.loads(cli.invoke(app, explain).stdout)
    vin, nid = decision["categories"]
    assert vin["allowed"] and vin["consent"] == {
        "record_id": record["record_id"],
        "ledger_index": record["ledger_index"],
    }
    assert (nid["allowed"], nid["reasons"][0], nid["rule"]) == (False, "matrix_deny", "never-release-national-id")
    text = cli.invoke(app, explain[:-1]).stdout
    assert "ALLOW vehicle.vin: matrix_allow, consent rule=dealer-vehicle-repair" in text
    no_gateway = cli.invoke(app, ["consent", "withdraw", record["record_id"], "--actor", "customer:u1"])
    assert no_gateway.exit_code == 2 and "data directory" in no_gateway.stderr  # its receipts and keys live there
    (tmp_path / "data").mkdir()
    withdrawn = cli.invoke(app, ["consent", "withdraw", record["record_id"], "--actor", "customer:u1"])
    assert withdrawn.exit_code == 0, withdrawn.output
    again = cli.invoke(app, ["consent", "withdraw", record["record_id"], "--actor", "customer:u1"])
    assert (again.exit_code, again.stderr.strip()) == (
        2,
        "error: This consent is withdrawn; only a given consent can be withdrawn.",
    )
    unknown = cli.invoke(app, ["consent", "withdraw", "no-such-record", "--actor", "customer:u1"])
    assert (unknown.exit_code, unknown.stderr.strip()) == (2, "error: No such consent record.")
    decision = json.loads(cli.invoke(app, explain).stdout)
    assert decision["categories"][0]["reasons"] == ["matrix_allow", "consent_withdrawn"]
    history = json.loads(cli.invoke(app, ["consent", "history", "--subject", "u1", "--json"]).stdout)
    assert [e["status"] for e in history["events"]] == ["given", "withdrawn"]


def test_bad_input_is_one_line_on_stderr_and_exit_2(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    grant = ["consent", "grant", "--subject", "u2", "--category", "vehicle", "--jurisdiction", "CN", "--actor", "a"]
    result = cli.invoke(app, [*grant, "--purpose", "resale"])
    assert (result.exit_code, result.stderr.strip()) == (2, "error: purposes: unknown purpose 'resale'")
    result = cli.invoke(app, [*grant, "--purpose", "marketing", "--valid-until", "2001-01-01T00:00:00Z"])
    assert result.exit_code == 2 and "valid_until: expiry 2001-01-01" in result.stderr
    result = cli.invoke(
        app,
        [*EXPLAIN_NOBODY, "--category", "vehicle.vin", "--purpose", "marketing"],
    )
    assert (result.exit_code, result.stderr.strip()) == (2, "error: unknown recipient 'nobody'")
    result = cli.invoke(app, [*grant, "--purpose", "marketing", "--pseudonym-key", "c2hvcnQ"])
    assert (result.exit_code, result.stderr.strip()) == (2, "error: the pseudonym key must be at least 16 bytes")


def test_without_a_key_consents_use_the_gateways_pseudonym_key_file(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str
) -> None:
    """Consents recorded from the CLI must carry the same pseudonyms as the gateway's own ledger entries."""
    from gateway.runtime import key_store
    from gateway.settings import Settings
    from ledger import parse_envelope, pseudonym
    from ledger.store import Ledger

    monkeypatch.delenv("CONSENTRY_PSEUDONYM_KEY")
    grant = ["consent", "grant", "--subject", "u3", "--category", "vehicle", "--jurisdiction", "CN", "--actor", "a"]
    result = cli.invoke(app, [*grant, "--purpose", "marketing", "--json"])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "data" / "keys" / "pseudonym.secret"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with Ledger.open(sqlite_url, create=False) as ledger:
        envelope = parse_envelope(ledger.entry(json.loads(result.stdout)["ledger_index"]))
    assert envelope["subject"] == pseudonym(key_store(Settings()).secret("pseudonym"), "u3")


def test_apply_versions_the_matrix_and_rejects_a_bad_file_whole(cli: CliRunner, tmp_path: Path) -> None:
    changed = tmp_path / "matrix.yaml"
    changed.write_text(DEFAULT_MATRIX.read_text().replace("  - {id: marketing-city,", "  - {id: marketing-town,"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_MATRIX.read_text().replace("role: rnd, category: vehicle.mileage", "role: rnd, category: x"))
    missing = cli.invoke(app, ["consent", "history", "--subject", "nobody"])  # reading never creates a database
    assert missing.exit_code == 2 and "no ledger database" in missing.stderr
    result = cli.invoke(app, ["policy", "apply", str(bad), "--actor", "admin:alice"])
    assert result.exit_code == 2 and "unknown category 'x'" in result.stderr
    result = cli.invoke(app, ["policy", "apply", str(changed), "--actor", "admin:alice", "--json"])
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout)
    assert change["version"] == 2 and change["diff"]["added"][0]["id"] == "marketing-town"
    lines = cli.invoke(app, ["policy", "history"]).stdout.splitlines()
    assert lines[1].startswith("v2 ") and "by admin:alice" in lines[1]
