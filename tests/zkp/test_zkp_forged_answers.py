"""Forged answers and forged evidence, as an attacker would make them, against the public answer verifier.

The attacker may be the customer's own wallet (which holds openings and would like a better answer), a
recipient replaying what it received elsewhere, or anyone editing an answer document in transit. Each test
builds the forgery from a genuine answer and asserts the verifier names the rule it breaks.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from ledger import Event, generate_signer_key
from tests.zkp.statement_world import ADULT, AGE, CATALYST, DAY, FAULT_CODES, T0, World
from zkp import (
    ANCHOR_EVENT,
    AnswerRejected,
    Commitment,
    HeldStatement,
    Operator,
    Predicate,
    QuestionTemplate,
    SchemaError,
    SignedStatement,
    TrustAnchors,
    anchor_event,
    answer_question,
    commit,
    contradiction,
    subject_binding,
    verify_full_answer,
)
from zkp.encoding import b64url_decode, b64url_encode


@pytest.fixture
def world() -> World:
    return World()


def _rejected(document: dict[str, Any], world: World | TrustAnchors, question: Any, **kwargs: Any) -> str:
    trust = world if isinstance(world, TrustAnchors) else world.trust
    with pytest.raises(AnswerRejected) as caught:
        verify_full_answer(document, trust, question=question, **kwargs)
    return caught.value.reason


@pytest.mark.parametrize("stripped", ["11001", "1001", "1"])
def test_an_answer_about_a_subject_never_verifies_as_one_about_a_suffix_of_its_id(world: World, stripped: str) -> None:
    """Issue 15: with SHA-256(salt ‖ subject) and any salt length, `salt ‖ "cust-"` and `"11001"` re-read a
    genuine answer about cust-11001 as one about 11001. The CRM asks about `stripped`; the attacker hands it the
    genuine answer with the prefix moved into the salt, and the question rewritten to match."""
    held = world.issue(AGE, "cust-11001", 34)
    genuine = answer_question(held, world.question(ADULT, "cust-11001"))
    verify_full_answer(world.document(genuine), world.trust, question=genuine.question)

    asked = dataclasses.replace(genuine.question, subject=stripped)
    moved = "cust-11001"[: len("cust-11001") - len(stripped)].encode()
    forged = world.document(dataclasses.replace(genuine, question=asked, subject_salt=held.subject_salt + moved))
    assert _rejected(forged, world, asked) == "binding"
    # the same salt cannot carry the answer over either, and the proof was made for another subject
    same_salt = world.document(dataclasses.replace(genuine, question=asked))
    assert _rejected(same_salt, world, asked) == "binding"


def test_the_binding_has_a_fixed_salt_length_and_a_length_prefixed_subject() -> None:
    salt = bytes(range(16))
    assert subject_binding(salt, "cust-11001") != subject_binding(salt, "11001")
    for wrong in (salt[:15], salt + b"c", salt + b"cust-"):
        with pytest.raises(Exception, match="exactly 16 bytes"):
            subject_binding(wrong, "11001")


def test_an_expired_statement_is_rejected_as_of_the_checkpoint_it_is_shown_against(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 34, valid_until=T0 + timedelta(hours=2))
    asked = world.question(ADULT, "cust-1001", asked_at=T0 + timedelta(hours=3))
    document = world.document(answer_question(held, asked))
    assert _rejected(document, world, asked) == "stale"
    # nor can the wallet or gateway show it against an old checkpoint from when it was fresh
    old = world.document(answer_question(held, asked), at=T0 + timedelta(hours=1))
    assert _rejected(old, world, asked) == "stale"


def test_a_superseded_statement_is_rejected_and_its_successor_accepted(world: World) -> None:
    """The income fell; the source's next window carries the new value. The wallet keeps the old opening
    and would rather answer from it."""
    first = world.issue(AGE, "cust-1001", 17, valid_until=T0 + DAY)
    second = world.issue(AGE, "cust-1001", 18, seq=2, issued_at=T0 + DAY, valid_until=T0 + 2 * DAY, previous=first)
    asked = world.question(ADULT, "cust-1001", asked_at=T0 + DAY + timedelta(hours=1))
    assert _rejected(world.document(answer_question(first, asked)), world, asked) == "stale"
    fresh = verify_full_answer(world.document(answer_question(second, asked)), world.trust, question=asked)
    assert fresh.holds is True and fresh.statement.seq == 2


def test_a_source_refuses_to_sign_a_successor_whose_window_overlaps(world: World) -> None:
    first = world.issue(AGE, "cust-1001", 17)
    with pytest.raises(SchemaError, match="overlap"):
        world.issue(AGE, "cust-1001", 18, seq=2, issued_at=T0 + timedelta(hours=3), previous=first)


def test_a_commitment_no_pinned_source_signed_is_rejected(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 15)
    asked = world.question(ADULT, "cust-1001")

    # the wallet commits to a value of its choosing and keeps the source's signature
    commitment, opening = commit(AGE, 40)
    statement = dataclasses.replace(held.statement, commitments=(commitment,))
    swapped = HeldStatement(SignedStatement(statement, held.signed.signature), held.subject, held.subject_salt, opening)
    world.anchors[statement.digest()] = world.log.append(anchor_event(swapped.signed), T0)
    assert _rejected(world.document(answer_question(swapped, asked)), world, asked) == "source"

    # or signs it with a key of its own under the source's name
    impostor, _ = generate_signer_key(world.source)
    forged = world.issue(AGE, "cust-1001", 40, signer=impostor)
    assert _rejected(world.document(answer_question(forged, asked)), world, asked) == "source"

    # or sends it with no signature at all
    unsigned = world.document(answer_question(held, asked))
    unsigned["answer"]["statement"]["signature"] = b64url_encode(bytes(64))
    assert _rejected(unsigned, world, asked) == "source"


def test_a_proof_moved_to_another_question_fails(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 34)
    genuine = answer_question(held, world.question(ADULT, "cust-1001"))
    document = world.document(genuine)

    other_template = QuestionTemplate("over-21", "age", Predicate(Operator.GE, (21,)))
    asked = dataclasses.replace(genuine.question, template=other_template)
    assert _rejected(document, world, asked) == "question"  # the answer says which question it answers

    rewritten = world.document(dataclasses.replace(genuine, question=asked))
    assert _rejected(rewritten, world, asked) == "proof"  # and the proof knows it
    for name, value in (("nonce", "another-verifiers-nonce"), ("audience", "org:other-bank"), ("purpose", "marketing")):
        elsewhere = dataclasses.replace(genuine.question, **{name: value})
        moved = world.document(dataclasses.replace(genuine, question=elsewhere))
        assert _rejected(moved, world, elsewhere) == "proof", name


def test_contradictory_answers_cannot_both_verify_unless_the_source_equivocated(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 15)
    asked = world.question(ADULT, "cust-1001")
    honest = answer_question(held, asked)
    assert honest.holds is False
    flipped = world.document(dataclasses.replace(honest, holds=True))
    assert _rejected(flipped, world, asked) == "proof"

    # successive statements may differ (the value changed); they are never current together
    later = world.issue(AGE, "cust-1001", 18, seq=2, issued_at=T0 + DAY, valid_until=T0 + 2 * DAY, previous=held)
    asked_later = world.question(ADULT, "cust-1001", asked_at=T0 + DAY + timedelta(hours=1))
    no = verify_full_answer(world.document(honest), world.trust, question=asked)
    yes = verify_full_answer(world.document(answer_question(later, asked_later)), world.trust, question=asked_later)
    assert (no.holds, yes.holds) == (False, True) and contradiction(no, yes) is None

    # a source that signs two statements current at once is caught by the two answers it made possible
    rogue = world.issue(AGE, "cust-1001", 40, seq=3, issued_at=T0, valid_until=T0 + DAY)
    also_yes = verify_full_answer(world.document(answer_question(rogue, asked)), world.trust, question=asked)
    assert also_yes.holds is True
    reason = contradiction(no, also_yes)
    assert reason is not None and "current at once" in reason


def test_evidence_must_be_the_neutral_anchor_of_this_statement(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 34)
    asked = world.question(ADULT, "cust-1001")
    answer = answer_question(held, asked)

    # an anchor that names the client whose question prompted it does not count as evidence
    leaky = Event(ANCHOR_EVENT, "client:crm-b", anchor_event(held.signed).subject, held.signed.to_json())
    world.anchors[held.statement.digest()] = world.log.append(leaky, T0)
    assert _rejected(world.document(answer), world, asked) == "inclusion"


def _longer(path: str) -> str:
    """The audit path with one more (zero) hash."""
    return b64url_encode(b64url_decode(path) + bytes(32))


def _grown(note: str) -> str:
    """The checkpoint with its tree size edited (the signatures stay)."""
    origin, size, rest = note.split("\n", 2)
    return f"{origin}\n{int(size) + 1}\n{rest}"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: d["evidence"].update(ledger_index=d["evidence"]["ledger_index"] + 1), "inclusion"),
        (lambda d: d["evidence"].update(payload_salt=b64url_encode(bytes(32))), "inclusion"),
        (lambda d: d["evidence"].update(inclusion_proof=_longer(d["evidence"]["inclusion_proof"])), "inclusion"),
        (lambda d: d["evidence"].update(checkpoint=_grown(d["evidence"]["checkpoint"])), "checkpoint"),
        (lambda d: d["answer"].update(holds="yes"), "malformed"),
        (lambda d: d["answer"]["statement"]["statement"].update(seq=2), "source"),
    ],
)
def test_edited_documents_are_rejected_with_the_rule_they_break(world: World, tamper: Any, reason: str) -> None:
    held = world.issue(AGE, "cust-1001", 34)
    world.issue(AGE, "cust-1002", 20)  # a second entry, so the tree has a sibling
    asked = world.question(ADULT, "cust-1001")
    document = world.document(answer_question(held, asked))
    edited = copy.deepcopy(document)
    tamper(edited)
    assert _rejected(edited, world, asked) == reason


def test_the_checkpoint_must_carry_a_trusted_recent_time(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 34)
    asked = world.question(ADULT, "cust-1001")
    answer = answer_question(held, asked)
    assert _rejected(world.document(answer, cosigned=False), world, asked) == "checkpoint-time"
    ancient = world.document(answer, at=asked.asked_at - timedelta(minutes=30))
    assert _rejected(ancient, world, asked) == "stale"
    document = world.document(answer)
    assert _rejected(document, world, asked, now=asked.expires_at) == "expired"
    assert _rejected(document, world, asked, now=asked.asked_at - timedelta(minutes=2)) == "checkpoint-time"
    _, impostor_log = generate_signer_key(world.log.origin)
    trust = TrustAnchors((impostor_log,), world.trust.time_keys, world.trust.source_keys)
    assert _rejected(document, trust, asked) == "checkpoint"


def test_a_set_answer_moved_to_another_subjects_set_fails(world: World) -> None:
    mine = world.issue(FAULT_CODES, "cust-1001", ["P0301", "P0420"])
    world.issue(FAULT_CODES, "cust-1002", [])
    asked = world.question(CATALYST, "cust-1002")
    mine_answer = answer_question(mine, world.question(CATALYST, "cust-1001"))
    moved = world.document(dataclasses.replace(mine_answer, question=asked))
    assert _rejected(moved, world, asked) == "binding"


def test_a_malformed_commitment_is_malformed_input_not_a_crash(world: World) -> None:
    held = world.issue(AGE, "cust-1001", 34)
    asked = world.question(ADULT, "cust-1001")
    document = world.document(answer_question(held, asked))
    raw = bytearray(b64url_decode(document["answer"]["statement"]["statement"]["commitments"][0]))
    raw[0] = 0x04
    document["answer"]["statement"]["statement"]["commitments"][0] = b64url_encode(bytes(raw))
    assert _rejected(document, world, asked) == "malformed"
    flood = world.document(answer_question(held, asked))
    flood["answer"]["statement"]["statement"]["commitments"] *= 10_000  # refused before a point is decoded
    assert _rejected(flood, world, asked) == "malformed"
    assert isinstance(Commitment.from_json(held.statement.to_json()["commitments"][0]), Commitment)
