"""Anchoring and sealing (issue 6, "Anchoring in the ledger"): a commitment is a ledger entry and its
opening a sealed row, committed together; the opening is in no table in the clear; an unchanged value
keeps its epoch and a changed one gets the next; time-dependent values re-anchor on a new as-of day;
nonces are single use across two engines on one database; sealed openings are bound to key and row."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.tables import zk_anchors
from gateway.zk import COMMITMENT_EVENT, subject_binding
from gateway.zk.nonces import NonceBook
from gateway.zk.sealing import KEY_FILE, OpeningSealer, SealedOpeningError, load_opening_key, row_binding
from keyfiles import KeyFileError
from ledger import parse_envelope
from zkp import AttributeSchema, Opening, SchemaError, commit
from zkp.encoding import b64url_encode
from zkp.group import scalar_to_bytes

SUBJECT = "cust-1001"
TODAY = date(2026, 11, 22)


def anchor(runtime: Runtime, attribute: str, value: int | str, as_of: date = TODAY) -> tuple[int, int, bool]:
    spec = runtime.zk.registry.get(attribute)
    result = runtime.zk.anchorer.anchor(
        runtime.subject_pseudonym(SUBJECT), SUBJECT, spec, value, actor="test", source="test", as_of=as_of
    )
    return result.anchor.epoch, result.anchor.ledger_index, result.created


def test_the_commitment_is_a_ledger_entry_and_the_opening_a_sealed_row(runtime: Runtime) -> None:
    epoch, index, created = anchor(runtime, "annual_income_cents", 42_000_000)
    assert (epoch, created) == (1, True)
    envelope = parse_envelope(runtime.ledger.entry(index))
    assert envelope["type"] == COMMITMENT_EVENT
    assert envelope["subject"] == runtime.subject_pseudonym(SUBJECT)  # a pseudonym, never the id
    payload = runtime.ledger.payload(index)
    assert payload is not None
    latest = runtime.zk.anchors.latest(runtime.subject_pseudonym(SUBJECT), "annual_income_cents")
    assert latest is not None
    assert payload["commitment"] == latest.commitment.to_json()
    assert payload["schema"] == {"name": "annual_income_cents", "kind": "integer", "bit_width": 48}
    assert payload["subject_binding"] == subject_binding(latest.subject_salt, SUBJECT)
    assert runtime.zk.anchorer.opening(latest).value == 42_000_000


def _dump_every_table(url: str) -> bytes:
    engine = create_engine(url)
    try:
        dump = bytearray()
        with engine.connect() as conn:
            for table in inspect(engine).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        dump += value if isinstance(value, bytes) else str(value).encode()
                        dump += b"\x00"
        return bytes(dump)
    finally:
        engine.dispose()


def test_no_table_holds_the_opening_in_the_clear(runtime: Runtime, settings: Settings) -> None:
    anchor(runtime, "city", "Shanghai-Pudong-Zhangjiang")
    latest = runtime.zk.anchors.latest(runtime.subject_pseudonym(SUBJECT), "city")
    assert latest is not None
    opening = runtime.zk.anchorer.opening(latest)
    blinding = scalar_to_bytes(opening.blinding)
    dump = _dump_every_table(settings.db_url)
    for secret in (
        b"Shanghai-Pudong-Zhangjiang",
        opening.to_bytes(),
        blinding,
        b64url_encode(blinding).encode(),
        base64.b64encode(blinding),
        str(opening.blinding).encode(),
        blinding.hex().encode(),
    ):
        assert secret not in dump


def test_an_unchanged_value_keeps_its_anchor_and_a_changed_one_gets_the_next_epoch(runtime: Runtime) -> None:
    first = anchor(runtime, "city", "Shanghai")
    assert anchor(runtime, "city", "Shanghai") == (first[0], first[1], False)
    second = anchor(runtime, "city", "Beijing")
    assert second[0] == 2 and second[2] is True and second[1] > first[1]
    payload = runtime.ledger.payload(second[1])
    assert payload is not None and payload["epoch"] == 2
    back = anchor(runtime, "city", "Shanghai")
    assert back[0] == 3  # a return to an old value is still a change: a fresh commitment, not the old one


def test_a_time_dependent_value_re_anchors_on_a_new_as_of_day(runtime: Runtime) -> None:
    epoch, _, _ = anchor(runtime, "age", 36, as_of=TODAY)
    assert anchor(runtime, "age", 36, as_of=TODAY)[2] is False
    next_day = anchor(runtime, "age", 36, as_of=TODAY + timedelta(days=1))
    assert next_day[0] == epoch + 1 and next_day[2] is True
    payload = runtime.ledger.payload(next_day[1])
    assert payload is not None and payload["as_of"] == (TODAY + timedelta(days=1)).isoformat()


def test_erasure_forgets_every_sealed_opening_of_the_subject(runtime: Runtime) -> None:
    anchor(runtime, "city", "Shanghai")
    anchor(runtime, "city", "Beijing")
    pseudonym = runtime.subject_pseudonym(SUBJECT)
    assert runtime.zk.anchors.forget(pseudonym) == 2
    assert runtime.zk.anchors.latest(pseudonym, "city") is None


def test_a_value_outside_the_bit_width_is_never_anchored(runtime: Runtime) -> None:
    size = runtime.ledger.size()
    with pytest.raises(SchemaError, match="8-bit"):
        anchor(runtime, "age", 256)
    assert runtime.ledger.size() == size


def test_a_failed_row_insert_leaves_no_ledger_entry(runtime: Runtime) -> None:
    _, index, _ = anchor(runtime, "city", "Shanghai")
    size = runtime.ledger.size()
    spec = runtime.zk.registry.get("city")
    with pytest.raises(IntegrityError):  # epoch 1 is taken: the entry rolls back with its row
        runtime.zk.anchorer._append(
            runtime.subject_pseudonym(SUBJECT), SUBJECT, spec, "Beijing", 1, "test", "test", TODAY
        )
    assert runtime.ledger.size() == size
    with runtime.engine.connect() as conn:
        assert conn.execute(select(zk_anchors.c.ledger_index)).scalars().all() == [index]


def test_sealed_openings_open_only_with_their_key_and_row() -> None:
    schema = AttributeSchema.integer("age", 8)
    commitment, opening = commit(schema, 42)
    sealer = OpeningSealer(os.urandom(32))
    binding = row_binding("pseudonym", "age", 1, commitment.to_json())
    sealed = sealer.seal(opening, binding)
    assert sealer.open(sealed, binding) == Opening(42, opening.blinding)
    with pytest.raises(SealedOpeningError):
        sealer.open(sealed, row_binding("pseudonym", "age", 2, commitment.to_json()))
    with pytest.raises(SealedOpeningError):
        OpeningSealer(os.urandom(32)).open(sealed, binding)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(SealedOpeningError):
        sealer.open(bytes(tampered), binding)
    assert "42" not in repr(sealer) and "42" not in repr(opening)


def test_the_sealing_key_file_is_created_0600_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    key = load_opening_key(tmp_path / "keys")
    path = tmp_path / "keys" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_opening_key(tmp_path / "keys") == key
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_opening_key(tmp_path / "keys")
    override = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    assert len(load_opening_key(tmp_path / "elsewhere", override)) == 32
    with pytest.raises(KeyFileError, match="32 bytes"):
        load_opening_key(tmp_path / "elsewhere", "c2hvcnQ")


def _two_engines_claim(url: str) -> None:
    first, second = create_engine(url), create_engine(url)
    now = datetime.now(UTC)
    try:
        with first.begin() as conn:
            NonceBook.claim(conn, "crm", "nonce-0123456789abcdef", now + timedelta(minutes=5), now)
        assert NonceBook(second).seen("crm", "nonce-0123456789abcdef", now)
        assert not NonceBook(second).seen("other-client", "nonce-0123456789abcdef", now)
        with pytest.raises(IntegrityError), second.begin() as conn:
            NonceBook.claim(conn, "crm", "nonce-0123456789abcdef", now + timedelta(minutes=5), now)
        later = now + timedelta(minutes=6)  # the window passed: the old use is purged, the nonce is free again
        with second.begin() as conn:
            NonceBook.claim(conn, "crm", "nonce-0123456789abcdef", later + timedelta(minutes=5), later)
    finally:
        first.dispose()
        second.dispose()


def test_a_nonce_is_single_use_across_engines_within_its_window_sqlite(runtime: Runtime, settings: Settings) -> None:
    _two_engines_claim(settings.db_url)


@pytest.mark.postgres
def test_anchors_and_nonces_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    started = Runtime.start(Settings(data_dir=tmp_path / "pg", database_url=postgres_url))
    try:
        spec = started.zk.registry.get("city")
        pseudonym = started.subject_pseudonym(SUBJECT)
        result = started.zk.anchorer.anchor(pseudonym, SUBJECT, spec, "Shanghai", actor="t", source="t", as_of=TODAY)
        assert result.created and result.anchor.epoch == 1
        assert started.zk.anchorer.opening(result.anchor).value == "Shanghai"
        _two_engines_claim(postgres_url)
    finally:
        started.close()
