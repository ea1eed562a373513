"""Events become canonical envelopes, and malformed events are refused before they reach the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import Event, EventError, parse_envelope
from ledger.envelope import canonical_envelope, canonical_json, format_time, prepare
from ledger.store import Ledger


def test_time_is_normalised_to_utc_with_microseconds(sqlite_url: str) -> None:
    moment = datetime(2026, 1, 2, 11, 4, 5, 6, tzinfo=timezone(timedelta(hours=8)))
    with Ledger.open(sqlite_url) as ledger:
        index = ledger.append(Event(type="access", actor="crm", time=moment))
        assert parse_envelope(ledger.entry(index))["time"] == "2026-01-02T03:04:05.000006Z"


@settings(max_examples=300)
@given(
    moment=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]))
)
def test_every_instant_has_the_one_spelling_leaves_have_always_used(moment: datetime) -> None:
    """The leaf's time is hashed: a faster spelling must write exactly the bytes earlier appends wrote."""
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        return  # not an instant in UTC at all
    assert format_time(moment) == in_utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event(type="", actor="a"), "type must be a non-empty string"),
        (Event(type="t", actor=""), "actor must be a non-empty string"),
        (Event(type="t", actor="a", subject=""), "subject must be a non-empty string"),
        (Event(type="t", actor="a", time=datetime(2026, 1, 1)), "timezone-aware"),
        (Event(type="t", actor="a", payload={"x": float("nan")}), "RFC 8785"),
        (Event(type="t", actor="a", payload={"x": object()}), "RFC 8785"),
    ],
)
def test_malformed_events_are_refused_and_nothing_is_written(sqlite_url: str, event: Event, message: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        with pytest.raises(EventError, match=message):
            ledger.append(event)
        assert ledger.size() == 0


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "must be a JSON object"),
        ({"actor": "a"}, "'type' is missing"),
        ({"type": "t", "actor": "a", "extra": 1}, "unknown event field"),
        ({"type": "t", "actor": "a", "payload": [1]}, "payload must be a JSON object"),
        ({"type": "t", "actor": "a", "time": "yesterday"}, "not RFC 3339"),
        ({"type": "t", "actor": "a", "time": "2026-01-01T00:00:00"}, "no UTC offset"),
    ],
)
def test_events_from_json_refuse_bad_fields(obj: object, message: str) -> None:
    with pytest.raises(EventError, match=message):
        Event.from_mapping(obj)


def test_events_from_json_read_every_field() -> None:
    event = Event.from_mapping(
        {"type": "t", "actor": "a", "subject": "s", "payload": {"k": 1}, "time": "2026-01-01T00:00:00Z"}
    )
    assert event == Event("t", "a", "s", {"k": 1}, datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        b"[]",
        b'{"actor":"a","payload_hash":null,"subject":null,"time":"t","type":"t","v":2}',
        b'{"v":1,"actor":"a","payload_hash":null,"subject":null,"time":"t","type":"t"}',
    ],
)
def test_only_canonical_version_1_envelopes_parse(data: bytes) -> None:
    with pytest.raises(EventError):
        parse_envelope(data)


envelope_text = st.text(st.characters(codec="utf-8"), max_size=40)


@given(
    kind=envelope_text,
    actor=envelope_text,
    subject=st.none() | envelope_text,
    digest=st.none() | envelope_text,
)
def test_the_fast_envelope_encoder_writes_exactly_rfc8785(
    kind: str, actor: str, subject: str | None, digest: str | None
) -> None:
    """RFC 8785 §3.2.2.2: every string the envelope can hold (controls, quotes, U+2028, astral) serialises alike."""
    envelope = {"v": 1, "type": kind, "time": "2026-01-01T00:00:00.000000Z", "actor": actor, "subject": subject}
    envelope["payload_hash"] = digest
    assert canonical_envelope(envelope) == rfc8785.dumps(envelope)


def test_a_lone_surrogate_in_an_event_is_refused_as_not_json() -> None:
    with pytest.raises(EventError, match="lone surrogate"):
        prepare(Event(type="test.\ud800", actor="system"))


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_rfc8785_canonical_json_is_byte_identical_to_the_reference_canonicaliser(value: object) -> None:
    """The C-encoder fast path must write exactly what RFC 8785 writes, and refuse what it refuses."""
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        with pytest.raises(EventError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


_plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_plain_values)
def test_documents_without_floats_take_the_fast_writer_and_still_write_exactly_rfc8785(value: object) -> None:
    """Every ledger payload the gateway writes is such a document: any key order, escape or character slip
    here would change a leaf hash from what another RFC 8785 implementation computes."""
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.text(max_size=3), st.sampled_from(["\ud800", "\udfff"]), st.booleans())
def test_a_lone_surrogate_anywhere_in_a_payload_is_refused(text: str, surrogate: str, as_key: bool) -> None:
    value = {text + surrogate: 1} if as_key else {"k": [text + surrogate]}
    with pytest.raises(EventError, match="lone surrogate"):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order puts the astral key first, code point order last
        {"z": '\u2028\u007f\x00\x1f"\\'},
        [2**53 - 1, -(2**53 - 1)],
    ],
)
def test_rfc8785_edge_cases_of_key_order_escapes_and_the_integer_domain(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_rfc8785_refuses_integers_beyond_the_double_domain() -> None:
    with pytest.raises(EventError, match="RFC 8785"):
        canonical_json({"n": 2**53})


def test_a_cyclic_payload_is_refused_not_walked_forever() -> None:
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    with pytest.raises(EventError, match="RFC 8785"):
        canonical_json(cyclic)
