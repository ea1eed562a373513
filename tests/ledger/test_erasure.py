"""GDPR Art. 17 erasure: payloads and salts go, the erasure is itself an entry, every proof stays valid."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import Engine, event

from ledger import Event, EventError, LedgerError, leaf_hash, parse_envelope, pseudonym, verify_inclusion
from ledger.store import Ledger

KEY = b"k" * 32


def test_payload_hash_commits_to_salt_and_canonical_payload(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        index = ledger.append(Event(type="consent.given", actor="system", payload={"b": 1, "a": "alice@example.com"}))
        envelope = parse_envelope(ledger.entry(index))
        assert set(envelope) == {"v", "type", "time", "actor", "subject", "payload_hash"}
        assert "alice@example.com" not in ledger.entry(index).decode()  # the payload never enters the leaf
        assert ledger.payload(index) == {"a": "alice@example.com", "b": 1}
        with ledger.engine.connect() as conn:
            salt = conn.exec_driver_sql("SELECT salt FROM ledger_payloads").scalar_one()
        digest = hashlib.sha256(bytes(salt) + rfc8785.dumps({"a": "alice@example.com", "b": 1})).digest()
        assert envelope["payload_hash"] == base64.b64encode(digest).decode()


def test_erasing_a_subject_removes_its_payloads_and_keeps_every_proof_valid(ledger: Ledger) -> None:
    alice, bob = pseudonym(KEY, "alice"), pseudonym(KEY, "bob")
    for n in range(6):
        ledger.append(Event(type="consent.given", actor="system", subject=(alice, bob)[n % 2], payload={"n": n}))
    root_before = ledger.root(6)
    erasure = ledger.erase_subject(alice, actor="admin:dpo")
    assert erasure == 6
    entry = parse_envelope(ledger.entry(erasure))
    assert (entry["type"], entry["subject"], entry["actor"]) == ("ledger.erasure", alice, "admin:dpo")
    assert [ledger.payload(i) for i in range(6)] == [None, {"n": 1}, None, {"n": 3}, None, {"n": 5}]
    with ledger.engine.connect() as conn:
        salts = conn.exec_driver_sql("SELECT COUNT(*) FROM ledger_payloads").scalar_one()
    assert salts == 3
    assert ledger.root(6) == root_before
    for index in (0, 2, 4):
        proof = ledger.inclusion_proof(index, 7)
        verify_inclusion(leaf_hash(ledger.entry(index)), index, 7, proof, ledger.root(7))


def test_pseudonyms_are_stable_per_key_and_differ_between_keys() -> None:
    assert pseudonym(KEY, "alice") == pseudonym(KEY, "alice")
    assert pseudonym(KEY, "alice") != pseudonym(b"j" * 32, "alice")
    assert pseudonym(KEY, "alice") != pseudonym(KEY, "bob")
    assert len(pseudonym(KEY, "alice")) == 64
    with pytest.raises(EventError, match="at least 16 bytes"):
        pseudonym(b"short", "alice")


@pytest.fixture
def secure_delete_off_by_default() -> Iterator[None]:
    """Some SQLite builds (Debian's among them) default to secure_delete on: turn it off first, as a stock
    build would have it, so only the ledger's own setting can erase."""

    def stock_default(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete = 0")

    event.listen(Engine, "connect", stock_default, insert=True)
    try:
        yield
    finally:
        event.remove(Engine, "connect", stock_default)


@pytest.mark.usefixtures("secure_delete_off_by_default")
def test_erased_payloads_leave_no_bytes_behind_in_the_sqlite_files(tmp_path: Path) -> None:
    """Deleting a row is not erasing it: without secure_delete the text stays in a free page, and the
    write-ahead log keeps the page images from before the delete."""
    path = tmp_path / "ledger.db"
    marker = "national-id-110101199003078515"
    alice = pseudonym(KEY, "alice")
    with Ledger.open(f"sqlite:///{path}") as ledger:
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        for n in range(20):
            ledger.append(Event(type="consent.given", actor="system", subject=alice, payload={"id": marker, "n": n}))
        ledger.append(Event(type="access", actor="crm", subject=pseudonym(KEY, "bob"), payload={"n": 0}))
        ledger.erase_subject(alice, actor="admin:dpo")
        on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.db"))
    assert marker.encode() not in on_disk


def test_erasing_chosen_payloads_keeps_the_rest_and_every_proof_and_fails_whole(ledger: Ledger) -> None:
    ledger.append_many([Event(type="access", actor="client:crm", payload={"n": n}) for n in range(3)])
    indices = [ledger.append(Event(type="access", actor="client:crm", payload={"n": n})) for n in range(3, 8)]
    root_before = ledger.root(8)
    chosen = [0, 2, *indices[1:]]

    def effects(conn: Any, index: int) -> None:
        seen.append(index)

    seen: list[int] = []
    record = Event(type="retention.erasure", actor="system:retention", payload={"count": len(chosen)})
    index = ledger.erase_payloads(chosen, record, effects=effects)
    assert index == 8 and seen == [8]
    assert [ledger.payload(i) is None for i in range(8)] == [True, False, True, False, True, True, True, True]
    assert ledger.payload(8) == {"count": 6}
    assert ledger.root(8) == root_before
    for erased in chosen:
        verify_inclusion(leaf_hash(ledger.entry(erased)), erased, 9, ledger.inclusion_proof(erased, 9), ledger.root(9))

    def refuse(conn: Any, index: int) -> None:
        raise RuntimeError("fenced out")

    with pytest.raises(RuntimeError, match="fenced out"):
        ledger.erase_payloads([1], Event(type="retention.erasure", actor="system:retention"), effects=refuse)
    assert ledger.payload(1) == {"n": 1} and ledger.size() == 9  # nothing erased, nothing recorded
    with pytest.raises(LedgerError, match="no entry at index 99"):
        ledger.erase_payloads([99], Event(type="retention.erasure", actor="system:retention"))
