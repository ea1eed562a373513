"""The effects hook: work done in the append's own transaction commits with it or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from ledger import Event, LedgerError
from ledger.store import Ledger


class Refused(Exception):
    pass


def make_table(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text("CREATE TABLE consents (ledger_index BIGINT PRIMARY KEY, note VARCHAR(40))"))


def notes(ledger: Ledger) -> dict[int, str]:
    with ledger.engine.connect() as conn:
        return {int(i): n for i, n in conn.execute(text("SELECT ledger_index, note FROM consents"))}


def record(note: str) -> Callable[[Connection, int], None]:
    def effect(conn: Connection, index: int) -> None:
        conn.execute(text("INSERT INTO consents VALUES (:i, :n)"), {"i": index, "n": note})

    return effect


def test_effects_commit_with_their_entry_and_see_its_index(ledger: Ledger) -> None:
    make_table(ledger)
    index = ledger.append(Event(type="consent.given", actor="system"), effects=record("given"))
    assert notes(ledger) == {index: "given"}


def test_a_raising_effect_rejects_its_entry_and_consumes_no_index(ledger: Ledger) -> None:
    make_table(ledger)

    def half_then_fail(conn: Connection, index: int) -> None:
        conn.execute(text("INSERT INTO consents VALUES (:i, 'partial')"), {"i": index})
        raise Refused("policy says no")

    with pytest.raises(Refused, match="policy says no"):
        ledger.append(Event(type="consent.given", actor="system"), effects=half_then_fail)
    assert ledger.size() == 0
    assert notes(ledger) == {}
    assert ledger.append(Event(type="consent.given", actor="system")) == 0


def test_a_raising_effect_in_a_group_commit_rejects_only_its_own_entry(ledger: Ledger) -> None:
    make_table(ledger)

    def fail(conn: Connection, index: int) -> None:
        conn.execute(text("INSERT INTO consents VALUES (:i, 'partial')"), {"i": index})
        raise Refused("no")

    async def main() -> list[int | BaseException]:
        calls = [
            ledger.append_async(
                Event(type="consent.given", actor=f"a{i}"),
                effects=fail if i == 3 else record(f"n{i}"),
            )
            for i in range(8)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[3], Refused)
    indices = [r for r in results if isinstance(r, int)]
    assert sorted(indices) == list(range(7))
    assert ledger.size() == 7
    assert sorted(notes(ledger)) == list(range(7))


def test_appending_from_inside_effects_is_refused(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:

        def nested(conn: Connection, index: int) -> None:
            ledger.append(Event(type="nested", actor="system"))

        with pytest.raises(LedgerError, match="inside an effects callback"):
            ledger.append(Event(type="outer", actor="system"), effects=nested)
        assert ledger.size() == 0


def test_a_batch_whose_writes_fail_rejects_its_appends_and_the_sequencer_survives(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        with ledger.engine.begin() as conn:  # a stray row where leaf 0's node must go
            conn.execute(text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (0, 0, :h)"), {"h": b"x" * 32})
        with pytest.raises(IntegrityError):
            ledger.append(Event(type="t", actor="a"))
        assert ledger.size() == 0
        assert ledger.entries(0, 1) == []
        with ledger.engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_nodes"))
        assert ledger.append(Event(type="t", actor="a")) == 0
