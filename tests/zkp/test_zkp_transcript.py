"""The Fiat–Shamir transcript: unambiguous absorption, chained challenges, every input matters."""

from __future__ import annotations

from zkp.group import ORDER
from zkp.transcript import Transcript


def _challenge(*messages: tuple[str, bytes]) -> int:
    transcript = Transcript("test")
    for label, message in messages:
        transcript.append_message(label, message)
    return transcript.challenge_scalar("c")


def test_challenges_are_deterministic_and_reduced() -> None:
    assert _challenge(("m", b"x")) == _challenge(("m", b"x"))
    assert 0 < _challenge(("m", b"x")) < ORDER


def test_length_prefixes_make_message_boundaries_unambiguous() -> None:
    assert _challenge(("m", b"ab"), ("m", b"c")) != _challenge(("m", b"a"), ("m", b"bc"))
    assert _challenge(("ab", b"c")) != _challenge(("a", b"bc"))


def test_labels_and_protocol_name_are_absorbed() -> None:
    assert _challenge(("m", b"x")) != _challenge(("n", b"x"))
    other = Transcript("other")
    other.append_message("m", b"x")
    assert other.challenge_scalar("c") != _challenge(("m", b"x"))


def test_each_challenge_depends_on_the_previous_one() -> None:
    first, second = Transcript("test"), Transcript("test")
    a1, a2 = first.challenge_scalar("a"), first.challenge_scalar("a")
    assert a1 != a2
    second.challenge_scalar("b")
    assert second.challenge_scalar("a") != a2
