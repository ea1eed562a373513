"""`effects=` on consent events: extra rows (a receipt, a status-list bit) commit in the very transaction that
appends the consent event to the ledger — both or neither."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select

from policies import ConsentRecord, ConsentStatus
from policies.runtime import PolicyRuntime

_meta = MetaData()
_side = Table("test_side_effects", _meta, Column("n", Integer, primary_key=True), Column("what", String(100)))


class Boom(Exception):
    pass


def _grant(runtime: PolicyRuntime, **kwargs: object) -> ConsentRecord:
    return runtime.consents.grant(
        subject_id="cust-1", purposes=["marketing"], categories=["contact"], jurisdiction="CN", actor="t", **kwargs
    )  # type: ignore[arg-type]


def test_effects_see_the_new_state_with_its_ledger_index_and_commit_with_it(runtime: PolicyRuntime) -> None:
    _meta.create_all(runtime.ledger.engine)
    seen: list[tuple[str, int | None]] = []

    def record(conn: Connection, state: ConsentRecord) -> None:
        seen.append((state.status.value, state.ledger_index))
        conn.execute(insert(_side).values(what=f"{state.status.value}@{state.ledger_index}"))

    given = _grant(runtime, effects=record)
    withdrawn = runtime.consents.withdraw(given.record_id, actor="t", effects=record)
    again = runtime.consents.give_again(given.record_id, actor="t", effects=record)
    renewed = runtime.consents.renew(given.record_id, actor="t", effects=record)
    assert seen == [
        ("given", given.ledger_index),
        ("withdrawn", withdrawn.ledger_index),
        ("given", again.ledger_index),
        ("renewed", renewed.ledger_index),
    ]
    with runtime.ledger.engine.connect() as conn:
        rows = conn.execute(select(_side.c.what).order_by(_side.c.n)).scalars().all()
    assert rows == [f"{s}@{i}" for s, i in seen]


@pytest.mark.parametrize("step", ["grant", "withdraw"])
def test_a_failing_effect_rolls_back_the_consent_event_and_its_ledger_entry(runtime: PolicyRuntime, step: str) -> None:
    def fail(conn: Connection, state: ConsentRecord) -> None:
        raise Boom(state.record_id)

    given = None if step == "grant" else _grant(runtime)
    size = runtime.ledger.size()
    with pytest.raises(Boom):
        if given is None:
            _grant(runtime, effects=fail)
        else:
            runtime.consents.withdraw(given.record_id, actor="t", effects=fail)
    assert runtime.ledger.size() == size
    records = runtime.consents.records("cust-1")
    assert [r.status for r in records] == ([] if given is None else [ConsentStatus.GIVEN])
