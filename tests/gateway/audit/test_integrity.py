"""The gateway's periodic self-audit (issue 17, point 10): each run re-hashes the stored entries against the latest
signed checkpoint, so an entry edited while the gateway runs is found by the next run, and an audit that holds
again (the entry restored) clears the failure."""

from __future__ import annotations

import sqlite3

from gateway.runtime import Runtime
from ledger import Event


def test_each_run_finds_an_entry_edited_since_and_clears_when_it_holds_again(runtime: Runtime) -> None:
    integrity = runtime.integrity
    assert integrity.failure == "not audited yet"
    runtime.ledger.append_many([Event("test.event", "test:original", None, {"n": n}) for n in range(4)])
    runtime.checkpoints.latest()
    assert integrity.run().failure is None and integrity.failure is None

    database = runtime.settings.db_url.removeprefix("sqlite:///")
    index = runtime.ledger.size() - 2
    with sqlite3.connect(database) as db:
        (original,) = db.execute("SELECT data FROM ledger_entries WHERE idx = ?", (index,)).fetchone()
        db.execute(
            "UPDATE ledger_entries SET data = ? WHERE idx = ?", (original.replace(b"original", b"0riginal"), index)
        )
    found = integrity.run()
    assert found.failure is not None and found.failure.startswith(f"entry {index}:")

    with sqlite3.connect(database) as db:
        db.execute("UPDATE ledger_entries SET data = ? WHERE idx = ?", (original, index))
    assert integrity.run().failure is None
