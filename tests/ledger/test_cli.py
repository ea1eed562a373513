"""`consentry ledger init|append|checkpoint|prove|consistency|verify|export`, as an auditor uses them."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ledger import generate_signer_key, leaf_hash, verify_checkpoint, verify_consistency, verify_inclusion
from tests.ledger.cli_support import events_jsonl, run


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    result = run(directory, "init", "--json")
    assert result.exit_code == 0, result.output
    return directory


def b64d(text: str) -> bytes:
    return base64.b64decode(text)


def test_init_creates_a_private_signer_key_and_prints_the_verifier_key(tmp_path: Path) -> None:
    result = run(tmp_path / "d", "init", "--json", "--origin", "example.org/log")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    key_file = tmp_path / "d" / "ledger-signer.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d" / "consentry.db").stat().st_mode) == 0o600  # payloads are personal data
    assert out["verifier_key"].startswith("example.org/log+")
    assert (tmp_path / "d" / "ledger-verifier.pub").read_text().strip() == out["verifier_key"]
    again = run(tmp_path / "d", "init", "--json")  # idempotent: the existing key is kept
    assert json.loads(again.stdout)["verifier_key"] == out["verifier_key"]
    assert json.loads(again.stdout)["created_signer_key"] is False


def test_append_from_stdin_and_from_a_file_prints_the_indices(data_dir: Path, tmp_path: Path) -> None:
    result = run(data_dir, "append", stdin=events_jsonl(3))
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["0", "1", "2"]
    source = tmp_path / "import.jsonl"
    source.write_text(events_jsonl(2) + "\n\n")  # blank lines are skipped
    result = run(data_dir, "append", str(source), "--json")
    assert json.loads(result.stdout) == {"indices": [3, 4]}


def test_checkpoint_prove_consistency_and_verify_agree_with_the_pure_verifiers(data_dir: Path) -> None:
    verifier = (data_dir / "ledger-verifier.pub").read_text().strip()
    run(data_dir, "append", stdin=events_jsonl(5))
    first = verify_checkpoint(json.loads(run(data_dir, "checkpoint", "--json").stdout)["note"], [verifier])
    run(data_dir, "append", stdin=events_jsonl(6, start=5))
    note = run(data_dir, "checkpoint").stdout
    second = verify_checkpoint(note, [verifier])
    assert (first.size, second.size) == (5, 11)

    proof = json.loads(run(data_dir, "prove", "3", "--size", "11", "--json").stdout)
    assert b64d(proof["leaf_hash"]) == leaf_hash(proof["entry"].encode())
    verify_inclusion(b64d(proof["leaf_hash"]), 3, 11, [b64d(h) for h in proof["proof"]], second.root)

    growth = json.loads(run(data_dir, "consistency", "5", "11", "--json").stdout)
    verify_consistency(5, 11, [b64d(h) for h in growth["proof"]], first.root, second.root)

    result = run(data_dir, "verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["size"], report["checkpoints"], report["payloads"]) == (True, 11, 2, 11)
    assert b64d(report["root"]) == second.root
    assert "ledger verifies: 11 entries" in run(data_dir, "verify").stdout


def test_verify_needs_a_verifier_key_when_checkpoints_exist(data_dir: Path) -> None:
    run(data_dir, "append", stdin=events_jsonl(1))
    run(data_dir, "checkpoint")
    (data_dir / "ledger-verifier.pub").unlink()
    result = run(data_dir, "verify")
    assert result.exit_code == 2
    assert "no verifier key" in result.stderr
    _, stranger = generate_signer_key("other.example/log")  # a key that signed nothing here
    result = run(data_dir, "verify", "--verifier-key", stranger)
    assert result.exit_code == 1
    assert "checkpoint 0: does not verify" in result.stderr


def test_export_writes_entries_checkpoints_and_the_verifier_key(data_dir: Path, tmp_path: Path) -> None:
    run(data_dir, "append", stdin=events_jsonl(3))
    run(data_dir, "checkpoint")
    lines = [json.loads(line) for line in run(data_dir, "export").stdout.splitlines()]
    assert [r["kind"] for r in lines] == ["ledger", "entry", "entry", "entry", "checkpoint"]
    assert lines[0]["size"] == 3
    out = tmp_path / "export.json"
    assert run(data_dir, "export", "--json", "--out", str(out)).exit_code == 0
    document = json.loads(out.read_text())
    assert len(document["entries"]) == 3
    assert len(document["checkpoints"]) == 1
    assert document["verifier_keys"] == [(data_dir / "ledger-verifier.pub").read_text().strip()]


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b'{"type": "a", "actor": "b"}\n{"type": \n', "line 2: invalid JSON"),
        (b'{"type": "a", "actor": "b"}\n\xff\xfe\n', "line 2: not UTF-8"),
        (b'{"actor": "b"}\n', "line 1: event field 'type' is missing"),
        (b'{"type": "a", "actor": "b"}\n{"type": "", "actor": "b"}\n', "line 2: event type must be a non-empty string"),
        (b'{"type": "a", "actor": "b", "time": "2026-01-01T00:00:00"}\n', "line 1: time"),
        (b'{"type": "a", "actor": "b", "payload": {"x": 1e400}}\n', "line 1:"),
        (b"[1, 2]\n", "line 1: an event must be a JSON object"),
    ],
    ids=["malformed-json", "non-utf8", "missing-field", "empty-type", "naive-time", "infinite-number", "not-object"],
)
def test_bad_append_input_is_refused_whole_with_a_precise_message(data_dir: Path, stdin: bytes, message: str) -> None:
    result = run(data_dir, "append", stdin=stdin)
    assert result.exit_code == 2
    assert message in result.stderr
    assert run(data_dir, "verify", "--json").exit_code == 0
    assert json.loads(run(data_dir, "verify", "--json").stdout)["size"] == 0  # nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prove", "7"], "index 7 is not below tree size 3"),
        (["prove", "0", "--size", "9"], "tree size 9 is beyond the log's size 3"),
        (["prove", "--", "-1"], "index -1"),
        (["consistency", "3", "2"], "size1 3 is not within 0..size2"),
        (["consistency", "1", "4"], "tree size 4 is beyond"),
        (["consistency", "--", "-2", "3"], "size1 -2"),
    ],
)
def test_out_of_range_sizes_and_indices_are_refused(data_dir: Path, args: list[str], message: str) -> None:
    run(data_dir, "append", stdin=events_jsonl(3))
    result = run(data_dir, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_database_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not a SQLite database, but long enough to have a header" * 20)
    for command in (["verify"], ["append"], ["prove", "0"], ["checkpoint"], ["export"], ["consistency", "0"]):
        result = run(tmp_path / "d", *command, "--db", f"sqlite:///{junk}", stdin=b"")
        assert result.exit_code == 2, (command, result.output)
        assert "ledger" in result.stderr
    result = run(tmp_path / "d", "verify", "--db", f"sqlite:///{tmp_path / 'absent.db'}")
    assert result.exit_code == 2
    assert "no ledger database" in result.stderr


def test_checkpoint_without_a_signer_key_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path / "d", "init")
    assert result.exit_code == 0
    (tmp_path / "d" / "ledger-signer.key").unlink()
    result = run(tmp_path / "d", "checkpoint")
    assert result.exit_code == 2
    assert "no signer key" in result.stderr


def test_the_cli_works_on_postgresql_and_never_prints_the_password(postgres_url: str, tmp_path: Path) -> None:
    url = make_url(postgres_url).set(password="s3cret").render_as_string(hide_password=False)  # trust auth ignores it
    result = run(tmp_path / "d", "init", "--db", url)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert run(tmp_path / "d", "append", "--db", url, stdin=events_jsonl(3)).stdout.split() == ["0", "1", "2"]
    assert run(tmp_path / "d", "checkpoint", "--db", url).exit_code == 0
    assert run(tmp_path / "d", "verify", "--db", url).exit_code == 0
