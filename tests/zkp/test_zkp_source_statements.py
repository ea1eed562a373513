"""Source-signed statements end to end in the library: a source signs, a real ledger anchors, a wallet proves,
and a relying party verifies with the log's, the clock's and the source's public keys only."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import cosign, generate_cosigner_key, generate_signer_key
from ledger.store import Ledger
from tests.zkp.statement_world import ADULT, AGE, CATALYST, FAULT_CODES, INCOME, INCOME_BAND, T0, World
from zkp import (
    EncodingError,
    Evidence,
    HeldStatement,
    ProofRefused,
    ProvenAnswer,
    Question,
    SchemaError,
    SignedStatement,
    SourceStatement,
    TrustAnchors,
    anchor_event,
    answer_question,
    check_succession,
    issue_statement,
    new_subject_salt,
    overlapping,
    verify_full_answer,
)


def test_a_verified_answer_names_source_validity_and_schema_version() -> None:
    world = World()
    held = world.issue(INCOME, "cust-1001", 42_000_000)
    asked = world.question(INCOME_BAND, "cust-1001")
    verified = verify_full_answer(world.document(answer_question(held, asked)), world.trust, question=asked)
    assert verified.holds is True
    assert (verified.source, verified.schema_version, verified.statement.seq) == ("vehicle-cloud.test", 1, 1)
    assert (verified.issued_at, verified.valid_until) == (held.statement.issued_at, held.statement.valid_until)
    assert verified.to_json()["valid_until"] == "2026-03-03T09:00:00Z"
    assert verified.checkpoint_time == asked.asked_at + timedelta(seconds=2)


def test_the_wire_forms_round_trip_and_say_nothing_of_the_value() -> None:
    world = World()
    held = world.issue(INCOME, "cust-1001", 42_000_000)
    answer = answer_question(held, world.question(INCOME_BAND, "cust-1001"))
    document = json.loads(json.dumps(world.document(answer)))
    assert ProvenAnswer.from_json(document["answer"]) == answer
    assert HeldStatement.from_json(json.loads(json.dumps(held.to_json()))).value == 42_000_000
    assert "42000000" not in json.dumps(document) and "cust-1001" in json.dumps(document["answer"]["question"])
    assert "42000000" not in repr(held) and "<opening>" in repr(held)
    statement = document["answer"]["statement"]["statement"]
    assert statement["type"] == "consentry/zk-statement/v1" and len(statement["commitments"]) == 1
    with pytest.raises(EncodingError):
        SignedStatement.from_json({**document["answer"]["statement"], "extra": 1})


def test_a_delivery_that_does_not_open_its_statement_is_refused() -> None:
    world = World()
    held = world.issue(AGE, "cust-1001", 34)
    other = world.issue(
        AGE, "cust-1001", 35, seq=2, issued_at=T0 + timedelta(days=1), valid_until=T0 + timedelta(days=2)
    )
    mixed = {**held.to_json(), "opening": other.opening.to_json()}
    with pytest.raises(EncodingError, match="does not open"):
        HeldStatement.from_json(mixed)
    with pytest.raises(EncodingError, match="subject binding"):
        HeldStatement.from_json({**held.to_json(), "subject": "cust-1002"})


def test_a_wallet_refuses_questions_its_statement_cannot_answer() -> None:
    world = World()
    held = world.issue(AGE, "cust-1001", 34)
    with pytest.raises(ProofRefused, match="another subject"):
        answer_question(held, world.question(ADULT, "cust-1002"))
    with pytest.raises(ProofRefused, match="cannot answer"):
        answer_question(held, world.question(INCOME_BAND, "cust-1001"))


def test_an_anchor_in_a_real_ledger_is_evidence_the_public_verifier_accepts(tmp_path: Path) -> None:
    """The gateway's part in phase 2, with the storage it will use: append the neutral anchor event, publish a
    checkpoint, cosign it with the clock key, and hand out the entry, salt and inclusion proof."""
    log_signer, log_key = generate_signer_key("consentry.test/ledger")
    clock_signer, clock_key = generate_cosigner_key("consentry.test/clock")
    source_signer, source_key = generate_signer_key("vehicle-cloud.test")
    now = datetime.now(UTC).replace(microsecond=0)
    held = issue_statement(
        source_signer,
        attribute=FAULT_CODES,
        schema_version=1,
        subject="cust-1001",
        subject_salt=new_subject_salt(),
        value=["P0301", "P0420"],
        seq=1,
        issued_at=now - timedelta(hours=1),
        valid_until=now + timedelta(hours=1),
    )
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", signer_key=log_signer)
    try:
        index = ledger.append(anchor_event(held.signed))
        note = cosign(ledger.checkpoint(), clock_signer, int(now.timestamp()))
        salted = ledger.salted_payload(index)
        assert salted is not None
        evidence = Evidence.from_ledger(ledger.entry(index), index, salted[0], ledger.inclusion_proof(index, 1), note)
    finally:
        ledger.close()
    asked = Question(
        CATALYST, "cust-1001", "org:dealer-4s", "service_delivery", "n" * 24, now, now + timedelta(minutes=5)
    )
    answer = answer_question(held, asked)
    trust = TrustAnchors((log_key,), (clock_key,), (source_key,))
    verified = verify_full_answer(
        {"answer": answer.to_json(), "evidence": evidence.to_json()}, trust, question=asked, now=now
    )
    assert verified.holds is True and verified.ledger_index == 0


def test_evidence_is_made_only_from_statement_anchors() -> None:
    world = World()
    world.issue(AGE, "cust-1001", 34)
    with pytest.raises(EncodingError, match="not a ledger entry"):
        Evidence.from_ledger(b"{}", 0, bytes(32), [], "")


def test_trust_anchors_refuse_malformed_keys_up_front() -> None:
    world = World()
    with pytest.raises(TypeError):
        TrustAnchors(world.log.verifier, world.trust.time_keys, world.trust.source_keys)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 0x04"):
        TrustAnchors(world.trust.log_keys, world.trust.log_keys, world.trust.source_keys)


@settings(max_examples=60, deadline=None)
@given(
    first=st.tuples(st.integers(0, 100), st.integers(1, 50)),
    second=st.tuples(st.integers(0, 200), st.integers(1, 50)),
    seqs=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_a_successor_the_rule_admits_is_never_current_together_with_its_predecessor(
    first: tuple[int, int], second: tuple[int, int], seqs: tuple[int, int]
) -> None:
    """The succession rule and the equivocation check agree: what `check_succession` admits never overlaps,
    and a later statement it refuses is current together with the earlier one, or entirely before it."""
    hour = timedelta(hours=1)

    def statement(start: int, length: int, seq: int) -> SourceStatement:
        return dataclasses.replace(BASE, seq=seq, issued_at=T0 + start * hour, valid_until=T0 + (start + length) * hour)

    a, b = statement(*first, seqs[0]), statement(*second, seqs[1])
    try:
        check_succession(a, b)
    except SchemaError:
        admitted = False
    else:
        admitted = True
    if admitted:
        assert not overlapping(a, b) and not overlapping(b, a)
    elif b.seq > a.seq:
        assert overlapping(a, b) == overlapping(b, a)
        assert overlapping(a, b) or b.valid_until <= a.issued_at


BASE = World().issue(AGE, "cust-1001", 30).statement
