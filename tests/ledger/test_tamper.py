"""`consentry ledger verify` catches every single-row tamper — update, delete, insert, swap — of
entries, tree nodes, payloads, checkpoints and the head, and names the first bad row (exit 1)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger import Event, TamperError, generate_signer_key, pseudonym
from ledger.store import Ledger, audit
from tests.ledger.cli_support import events_jsonl, run

Tamper = Callable[[sqlite3.Connection], None]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """12 entries (payloads on even indices, two subjects) and checkpoints at sizes 4, 8 and 12."""
    directory = tmp_path / "data"
    assert run(directory, "init").exit_code == 0
    for start in (0, 4, 8):
        lines = events_jsonl(2, subject="s1", start=start)
        lines += '{"type": "access", "actor": "client:crm", "subject": "s2"}\n' * 2
        assert run(directory, "append", stdin=lines).exit_code == 0
        assert run(directory, "checkpoint").exit_code == 0
    assert run(directory, "verify").exit_code == 0
    return directory


def sql(*statements: str) -> Tamper:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


def swap(table: str, column: str, key: str, a: str, b: str) -> Tamper:
    def apply(conn: sqlite3.Connection) -> None:
        (va,) = conn.execute(f"SELECT {column} FROM {table} WHERE {key} = {a}").fetchone()
        (vb,) = conn.execute(f"SELECT {column} FROM {table} WHERE {key} = {b}").fetchone()
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = {a}", (vb,))
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = {b}", (va,))

    return apply


def edit_note(conn: sqlite3.Connection) -> None:
    (note,) = conn.execute("SELECT note FROM ledger_checkpoints WHERE seq = 1").fetchone()
    conn.execute("UPDATE ledger_checkpoints SET note = ? WHERE seq = 1", (note.replace("\n8\n", "\n7\n"),))


def forge_entry(conn: sqlite3.Connection) -> None:
    (data,) = conn.execute("SELECT data FROM ledger_entries WHERE idx = 6").fetchone()
    forged = data.replace(b"client:crm", b"client:xyz")
    assert forged != data
    conn.execute("UPDATE ledger_entries SET data = ? WHERE idx = 6", (forged,))


CASES: dict[str, tuple[Tamper, str]] = {
    # entries (the leaves' data)
    "entry-update": (forge_entry, "entry 6: its leaf hash differs"),
    "entry-update-not-canonical": (
        sql("UPDATE ledger_entries SET data = CAST('{\"v\": 1}' AS BLOB) WHERE idx = 5"),
        "entry 5: entry is not a ledger envelope",
    ),
    "entry-delete": (sql("DELETE FROM ledger_entries WHERE idx = 5"), "entry 5: missing"),
    "entry-delete-last": (sql("DELETE FROM ledger_entries WHERE idx = 11"), "entry 11: missing"),
    "entry-insert": (
        sql("INSERT INTO ledger_entries SELECT 12, data FROM ledger_entries WHERE idx = 11"),
        "entry 12: stored beyond the log's size 12",
    ),
    "entry-swap": (swap("ledger_entries", "data", "idx", "3", "7"), "entry 3: its leaf hash differs"),
    # tree nodes
    "leaf-node-update": (sql("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 4"), "entry 4"),
    "node-update": (
        sql("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 2"),
        "node (level 1, index 2): differs from the hash of its two children",
    ),
    "node-delete": (sql("DELETE FROM ledger_nodes WHERE level = 2 AND idx = 1"), "node (level 2, index 1): missing"),
    "leaf-node-delete": (
        sql("DELETE FROM ledger_nodes WHERE level = 0 AND idx = 9"),
        "node (level 0, index 9): missing",
    ),
    "node-insert-beyond-size": (
        sql("INSERT INTO ledger_nodes VALUES (0, 12, zeroblob(32))"),
        "node (level 0, index 12): not part of a tree of size 12",
    ),
    "node-insert-above-height": (
        sql("INSERT INTO ledger_nodes VALUES (4, 0, zeroblob(32))"),
        "node (level 4, index 0): not part of a tree of size 12",
    ),
    "node-swap": (
        swap("ledger_nodes", "hash", "level = 1 AND idx", "0", "1"),
        "node (level 1, index 0): differs from the hash of its two children",
    ),
    # payloads beside the log
    "payload-update": (
        sql("UPDATE ledger_payloads SET payload = CAST('{\"n\":99}' AS BLOB) WHERE idx = 4"),
        "payload of entry 4: salted hash differs",
    ),
    "payload-salt-update": (
        sql("UPDATE ledger_payloads SET salt = zeroblob(32) WHERE idx = 8"),
        "payload of entry 8: salted hash differs",
    ),
    "payload-delete": (
        sql("DELETE FROM ledger_payloads WHERE idx = 4"),
        "payload of entry 4: missing, and no later erasure entry",
    ),
    "payload-insert": (
        sql("INSERT INTO ledger_payloads SELECT 2, subject, salt, payload FROM ledger_payloads WHERE idx = 0"),
        "payload of entry 2: a payload is stored for an entry that commits to none",
    ),
    "payload-swap": (swap("ledger_payloads", "payload", "idx", "0", "1"), "payload of entry 0: salted hash differs"),
    # checkpoints
    "checkpoint-note-update": (edit_note, "checkpoint 1: does not verify"),
    "checkpoint-size-update": (
        sql("UPDATE ledger_checkpoints SET size = 7 WHERE seq = 1"),
        "checkpoint 1: stored size 7 differs from the signed size 8",
    ),
    "checkpoint-delete": (sql("DELETE FROM ledger_checkpoints WHERE seq = 1"), "checkpoint 1: missing"),
    "checkpoint-delete-last": (sql("DELETE FROM ledger_checkpoints WHERE seq = 2"), "checkpoint 2: missing"),
    "checkpoint-insert": (
        sql("INSERT INTO ledger_checkpoints SELECT 3, size, note FROM ledger_checkpoints WHERE seq = 2"),
        "checkpoint 3: beyond the 3 checkpoints the head records",
    ),
    "checkpoint-swap": (
        sql(
            "UPDATE ledger_checkpoints SET seq = -1 WHERE seq = 0",
            "UPDATE ledger_checkpoints SET seq = 0 WHERE seq = 2",
            "UPDATE ledger_checkpoints SET seq = 2 WHERE seq = -1",
        ),
        "checkpoint 1: size 8 is smaller than checkpoint 0's 12",
    ),
    # the head row
    "head-size-shrunk": (sql("UPDATE ledger_head SET size = 11"), "entry 11: stored beyond the log's size 11"),
    "head-size-grown": (sql("UPDATE ledger_head SET size = 13"), "entry 12: missing"),
    "head-checkpoints-update": (
        sql("UPDATE ledger_head SET checkpoints = 4"),
        "checkpoint 3: missing (deleted): the head records 4",
    ),
    "head-delete": (sql("DELETE FROM ledger_head"), "head row is missing"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_names_the_first_bad_row_after_a_single_row_tamper(data_dir: Path, case: str) -> None:
    tamper, message = CASES[case]
    with sqlite3.connect(data_dir / "consentry.db") as conn:
        tamper(conn)
    result = run(data_dir, "verify")
    assert result.exit_code in (1, 2), result.output
    assert message in result.stderr, result.stderr
    if case != "head-delete":  # a missing head means "not a ledger" (exit 2); every other tamper fails the audit
        assert result.exit_code == 1
        assert result.stderr.startswith("error: verification failed at ")


def test_erasure_leaves_a_ledger_that_verifies(db_url: str) -> None:
    signer, verifier = generate_signer_key("example.org/log")
    subject = pseudonym(b"k" * 32, "alice")
    with Ledger.open(db_url, signer_key=signer) as ledger:
        for n in range(5):
            ledger.append(Event("consent.given", "system", subject if n % 2 else None, {"n": n}))
        ledger.checkpoint()
        ledger.erase_subject(subject, actor="admin:dpo")
        ledger.checkpoint()
        report = audit(ledger, [verifier])
        assert (report.size, report.checkpoints, report.payloads, report.erased_payloads) == (6, 2, 3, 2)
        with ledger.engine.begin() as conn:  # a payload of the erased subject put back is caught
            conn.exec_driver_sql(
                "INSERT INTO ledger_payloads (idx, subject, salt, payload) "
                f"SELECT 1, '{subject}', salt, payload FROM ledger_payloads WHERE idx = 0"
            )
        with pytest.raises(TamperError, match="payload of entry 1"):
            audit(ledger, [verifier])
