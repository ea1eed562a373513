"""Soundness: forged, mutated, truncated, extended and transplanted proofs are all rejected.

A proof is bound by the transcript to its commitment, predicate and context; any change to either
the proof bytes or what it is checked against must end in `VerificationError` — never in acceptance,
never in another exception.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.zkp.zkp_schemas import AGE, CITY
from zkp import Context, Operator, Predicate, Proof, Statement, VerificationError, bulletproofs, commit, prove, verify
from zkp.encoding import ProofReader, ProofWriter
from zkp.group import FIELD_PRIME, POINT_SIZE, G, H, random_scalar
from zkp.proof import PROOF_FORMAT
from zkp.transcript import Transcript

CONTEXT = Context(nonce="n-7Qx2", client_id="crm-dealer-01", purpose="marketing", expires_at="2030-01-01T00:00:00Z")
COMMITMENT, OPENING = commit(AGE, 30)
ADULT = Statement(AGE, COMMITMENT, Predicate(Operator.GE, (18,)))
ADULT_PROOF = prove(ADULT, OPENING, CONTEXT)
CITY_COMMITMENT, CITY_OPENING = commit(CITY, "Shanghai")
IN_CITIES = Statement(CITY, CITY_COMMITMENT, Predicate(Operator.IN, ("Beijing", "Shanghai")))
IN_CITIES_PROOF = prove(IN_CITIES, CITY_OPENING, CONTEXT)
OUTSIDE = Statement(AGE, COMMITMENT, Predicate(Operator.OUTSIDE, (40, 65)))
OUTSIDE_PROOF = prove(OUTSIDE, OPENING, CONTEXT)

CASES = [(ADULT, ADULT_PROOF), (IN_CITIES, IN_CITIES_PROOF), (OUTSIDE, OUTSIDE_PROOF)]


def _rejected(statement: Statement, data: bytes, context: Context = CONTEXT) -> None:
    with pytest.raises(VerificationError):
        verify(statement, Proof(data), context)


def test_the_untouched_proofs_verify() -> None:
    for statement, proof in CASES:
        verify(statement, proof, CONTEXT)


@pytest.mark.parametrize(("statement", "proof"), CASES)
def test_every_single_byte_mutation_is_rejected(statement: Statement, proof: Proof) -> None:
    for position in range(len(proof.data)):
        for flip in (0x01, 0x80):
            mutated = bytearray(proof.data)
            mutated[position] ^= flip
            _rejected(statement, bytes(mutated))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_single_byte_replacements_are_rejected(data: st.DataObject) -> None:
    statement, proof = data.draw(st.sampled_from(CASES))
    position = data.draw(st.integers(0, len(proof.data) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != proof.data[position]))
    mutated = bytearray(proof.data)
    mutated[position] = value
    _rejected(statement, bytes(mutated))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1200))
def test_random_bytes_are_rejected(data: bytes) -> None:
    _rejected(ADULT, data)
    _rejected(ADULT, PROOF_FORMAT + data)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CASES), st.data())
def test_truncated_and_extended_proofs_are_rejected(case: tuple[Statement, Proof], data: st.DataObject) -> None:
    statement, proof = case
    cut = data.draw(st.integers(0, len(proof.data) - 1))
    _rejected(statement, proof.data[:cut])
    _rejected(statement, proof.data + data.draw(st.binary(min_size=1, max_size=64)))


def test_a_proof_moved_to_another_commitment_of_the_same_value_is_rejected() -> None:
    other, _ = commit(AGE, 30)
    _rejected(dataclasses.replace(ADULT, commitment=other), ADULT_PROOF.data)


@pytest.mark.parametrize(
    "predicate",
    [
        Predicate(Operator.GE, (17,)),
        Predicate(Operator.GE, (19,)),
        Predicate(Operator.GT, (18,)),
        Predicate(Operator.WITHIN, (18, 255)),
        Predicate(Operator.LE, (255,)),
    ],
)
def test_a_proof_moved_to_another_predicate_is_rejected(predicate: Predicate) -> None:
    _rejected(dataclasses.replace(ADULT, predicate=predicate), ADULT_PROOF.data)


def test_a_proof_moved_to_another_attribute_is_rejected() -> None:
    renamed = dataclasses.replace(AGE, name="age_in_years")
    _rejected(dataclasses.replace(ADULT, attribute=renamed), ADULT_PROOF.data)
    wider = dataclasses.replace(AGE, bit_width=16)
    _rejected(dataclasses.replace(ADULT, attribute=wider), ADULT_PROOF.data)


@pytest.mark.parametrize("field", ["nonce", "client_id", "purpose", "expires_at", "anchor"])
def test_a_proof_moved_to_another_context_is_rejected(field: str) -> None:
    changed = "2030-01-01T00:00:01Z" if field == "expires_at" else "other"
    for statement, proof in CASES:
        _rejected(statement, proof.data, dataclasses.replace(CONTEXT, **{field: changed}))


def _off_curve_x() -> int:
    """The smallest x for which x^3 - 3x + b is not a square modulo p: no P-256 point has it."""
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    x = 0
    while pow((x**3 - 3 * x + b) % FIELD_PRIME, (FIELD_PRIME - 1) // 2, FIELD_PRIME) == 1:
        x += 1
    return x


def _point_offsets(statement: Statement, proof: Proof) -> list[int]:
    """Byte offsets of the points in a proof (found by recording what the verifier reads)."""
    offsets: list[int] = []
    original = ProofReader.point

    def recording(self: ProofReader, what: str) -> object:
        offsets.append(self._offset + len(PROOF_FORMAT))
        return original(self, what)

    ProofReader.point = recording  # type: ignore[method-assign]
    try:
        verify(statement, proof, CONTEXT)
    finally:
        ProofReader.point = original  # type: ignore[method-assign]
    return offsets


@pytest.mark.parametrize(("statement", "proof"), [(ADULT, ADULT_PROOF), (OUTSIDE, OUTSIDE_PROOF)])
def test_identity_and_off_curve_points_in_a_proof_are_rejected(statement: Statement, proof: Proof) -> None:
    offsets = _point_offsets(statement, proof)
    assert offsets
    off_curve = b"\x02" + _off_curve_x().to_bytes(32, "big")
    for offset in offsets:
        for bad in (b"\x00" * POINT_SIZE, off_curve, b"\x04" + proof.data[offset + 1 : offset + POINT_SIZE]):
            data = proof.data[:offset] + bad + proof.data[offset + POINT_SIZE :]
            with pytest.raises(VerificationError, match="malformed proof"):
                verify(statement, Proof(data), CONTEXT)


class _LyingInt(int):
    """An integer that claims to be in range, so the prover's own refusal is bypassed."""

    def __lt__(self, other: object) -> bool:
        return True


def test_a_cheating_prover_cannot_prove_a_value_beyond_the_range() -> None:
    """The prover's code run on 300 with n = 8 decomposes only the low 8 bits; the proof must fail."""
    blinding = random_scalar()
    commitment = 300 * G + blinding * H
    writer = ProofWriter()
    bulletproofs.prove_range(Transcript("t"), writer, "r", 8, [commitment], [_LyingInt(300)], [blinding])
    with pytest.raises(VerificationError, match="polynomial commitment"):
        bulletproofs.verify_range(Transcript("t"), ProofReader(writer.getvalue()), "r", 8, [commitment])


def test_a_range_proof_for_one_commitment_does_not_verify_for_another() -> None:
    blinding = random_scalar()
    commitment = 100 * G + blinding * H
    writer = ProofWriter()
    bulletproofs.prove_range(Transcript("t"), writer, "r", 8, [commitment], [100], [blinding])
    with pytest.raises(VerificationError):
        bulletproofs.verify_range(Transcript("t"), ProofReader(writer.getvalue()), "r", 8, [commitment + G])


def test_the_32_bit_range_proof_has_the_logarithmic_size() -> None:
    assert bulletproofs.proof_size(32, 1) == (14, 5)
    assert 14 * POINT_SIZE + 5 * 32 == 622
