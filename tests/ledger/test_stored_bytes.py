"""What a batch writes is read back byte for byte: leaf data, subject, salt and payload, and nodes whose root is
the RFC 9162 root of the entries, whatever text the subject holds (the PostgreSQL batch path carries every column
as one array literal, so quoting there must not bend a single character)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ledger import Event, pseudonym, root_hash
from ledger.envelope import canonical_json, payload_hash
from ledger.store import Ledger, schema

# PostgreSQL text holds no NUL; every other character, including the ones array literals treat as syntax.
SYNTAX = ['a"b', "a\\b", "{x,y}", "NULL", "null", " lead", "trail ", "é😀", '\\"', "a,b", "()", "\\", '"']
SUBJECTS = st.one_of(
    st.sampled_from(SYNTAX),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=20),
)
PAYLOADS = st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=10), st.integers(-1000, 1000)), max_size=3)


@pytest.fixture
def shared(ledger: Ledger) -> Ledger:
    """One ledger for every example; warmed so later batches take the fast path (it needs the known head)."""
    ledger.append(Event(type="test.warm", actor="a"))
    return ledger


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.lists(st.tuples(st.one_of(st.none(), SUBJECTS), st.one_of(st.none(), PAYLOADS)), min_size=1, max_size=4)
)
def test_a_batch_reads_back_byte_for_byte(
    shared: Ledger, batch: list[tuple[str | None, dict[str, object] | None]]
) -> None:
    events = [Event(type="test.bytes", actor="a", subject=s, payload=p) for s, p in batch]
    indices = shared.append_many(events) if len(events) > 1 else [shared.append(events[0])]
    with shared.engine.connect() as conn:
        stored = {
            int(row.idx): (row.subject, bytes(row.salt), bytes(row.payload))
            for row in conn.execute(select(schema.payloads).where(schema.payloads.c.idx.in_(indices)))
        }
    for index, (subject, payload) in zip(indices, batch, strict=True):
        data = shared.entry(index)
        assert f'"subject":{canonical_json(subject).decode()}'.encode() in data
        if payload is None:
            assert index not in stored
            continue
        got_subject, salt, payload_json = stored[index]
        assert got_subject == subject
        assert payload_json == canonical_json(payload)
        assert f'"payload_hash":"{payload_hash(salt, payload_json)}"'.encode() in data
    size = indices[-1] + 1
    assert shared.root(size) == root_hash(shared.entries(0, size))


def test_subjects_made_of_array_syntax_round_trip(shared: Ledger) -> None:
    """Each alone and all in one batch: quotes, backslashes, braces, commas, blanks and the word NULL."""
    indices = [shared.append(Event(type="test.bytes", actor="a", subject=s, payload={})) for s in SYNTAX]
    indices += shared.append_many([Event(type="test.bytes", actor="a", subject=s, payload={}) for s in SYNTAX])
    with shared.engine.connect() as conn:
        rows = conn.execute(
            select(schema.payloads.c.idx, schema.payloads.c.subject).where(schema.payloads.c.idx.in_(indices))
        )
        got = {int(idx): subject for idx, subject in rows}
    assert [got[i] for i in indices] == SYNTAX + SYNTAX


def test_pseudonymous_subjects_round_trip(shared: Ledger) -> None:
    """The subjects the gateway really writes (hex pseudonyms) take the same path."""
    subject = pseudonym(b"k" * 16, "user-1")
    index = shared.append(Event(type="test.bytes", actor="a", subject=subject, payload={"x": 1}))
    with shared.engine.connect() as conn:
        got = conn.execute(select(schema.payloads.c.subject).where(schema.payloads.c.idx == index)).scalar_one()
    assert got == subject
