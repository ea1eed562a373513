"""Evidence that shows a successor: the verifier names the supersession, and a forged successor is refused.

The answer over statement 1 is shown against a checkpoint that also holds statement 2 of the same series. With
the successor in the evidence the reason is `superseded` and names it; without it the window's end still
rejects the answer (`stale`); a successor that is not the source's, not in the checkpoint, not of the series
or not yet current does not make a genuine answer look superseded.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from tests.zkp.statement_world import CATALYST, DAY, FAULT_CODES, T0, World
from zkp import (
    AnswerRejected,
    Evidence,
    HeldStatement,
    Question,
    Successor,
    answer_question,
    verify_full_answer,
)


def _successor(world: World, held: HeldStatement) -> Successor:
    index = world.anchors[held.statement.digest()]
    shown = world.log.evidence(index, T0)
    return Successor(held.signed, index, shown.entry_time, shown.payload_salt, shown.inclusion_proof)


def _with_successor(document: dict[str, Any], successor: Successor) -> dict[str, Any]:
    evidence = dataclasses.replace(Evidence.from_json(document["evidence"]), successor=successor)
    return {"answer": document["answer"], "evidence": evidence.to_json()}


def _reason(document: dict[str, Any], world: World, asked: Question) -> tuple[str, str]:
    with pytest.raises(AnswerRejected) as caught:
        verify_full_answer(document, world.trust, question=asked)
    return caught.value.reason, str(caught.value)


@pytest.fixture
def series() -> tuple[World, HeldStatement, HeldStatement, Question]:
    """Statement 1 says the catalyst code is set; the repair is statement 2, current from the next day."""
    world = World()
    first = world.issue(FAULT_CODES, "cust-1001", ["P0301", "P0420"])
    second = world.issue(
        FAULT_CODES, "cust-1001", ["P0301"], seq=2, issued_at=T0 + DAY, valid_until=T0 + 2 * DAY, previous=first
    )
    return world, first, second, world.question(CATALYST, "cust-1001")


def test_the_answer_against_a_checkpoint_with_its_successor_is_superseded_and_says_by_what(
    series: tuple[World, HeldStatement, HeldStatement, Question],
) -> None:
    world, first, second, asked = series
    answer = answer_question(first, asked)
    later = world.document(answer, at=T0 + DAY + timedelta(minutes=1))
    reason, message = _reason(_with_successor(later, _successor(world, second)), world, asked)
    assert reason == "superseded"
    assert f"superseded by seq 2, anchored at ledger index {world.anchors[second.statement.digest()]}" in message
    # without the successor, the window's end still rejects it
    assert _reason(later, world, asked)[0] == "stale"
    # and against the checkpoint it was answered under, it stands
    assert verify_full_answer(world.document(answer), world.trust, question=asked).holds is True


def test_a_successor_not_yet_current_does_not_supersede(
    series: tuple[World, HeldStatement, HeldStatement, Question],
) -> None:
    world, first, second, asked = series
    document = _with_successor(world.document(answer_question(first, asked)), _successor(world, second))
    assert verify_full_answer(document, world.trust, question=asked).statement.seq == 1


def test_a_forged_successor_is_refused_for_what_it_is(
    series: tuple[World, HeldStatement, HeldStatement, Question],
) -> None:
    world, first, second, asked = series
    document = world.document(answer_question(first, asked), at=T0 + DAY + timedelta(minutes=1))
    genuine = _successor(world, second)

    stranger = World(salts=world.salts)  # the same source name and subject binding, but a key nobody pinned
    foreign = stranger.issue(FAULT_CODES, "cust-1001", ["P0301"], seq=2, issued_at=T0 + DAY, valid_until=T0 + 2 * DAY)
    assert _reason(_with_successor(document, dataclasses.replace(genuine, signed=foreign.signed)), world, asked)[0] == (
        "source"
    )
    moved = dataclasses.replace(genuine, ledger_index=world.anchors[first.statement.digest()])
    assert _reason(_with_successor(document, moved), world, asked)[0] == "inclusion"
    itself = _successor(world, first)  # the answered statement is not its own successor
    assert _reason(_with_successor(document, itself), world, asked)[0] == "malformed"
    other = world.issue(FAULT_CODES, "cust-2002", ["P0300"], seq=2, issued_at=T0 + DAY, valid_until=T0 + 2 * DAY)
    later = world.document(answer_question(first, asked), at=T0 + DAY + timedelta(minutes=1))
    assert _reason(_with_successor(later, _successor(world, other)), world, asked)[0] == "malformed"


def test_evidence_without_a_successor_keeps_its_encoding(
    series: tuple[World, HeldStatement, HeldStatement, Question],
) -> None:
    world, first, second, asked = series
    document = world.document(answer_question(first, asked))
    assert "successor" not in document["evidence"]
    assert Evidence.from_json(document["evidence"]).to_json() == document["evidence"]
    shown = _with_successor(document, _successor(world, second))["evidence"]
    assert Evidence.from_json(shown).to_json() == shown
