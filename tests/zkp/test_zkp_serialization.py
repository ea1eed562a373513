"""Statements, contexts, proofs and answers as JSON (proofs as unpadded base64url), with strict parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.zkp.zkp_schemas import AGE, FAULT_CODE
from zkp import (
    Answer,
    AttributeSchema,
    Context,
    EncodingError,
    Operator,
    Predicate,
    Proof,
    Statement,
    VerificationError,
    answer,
    commit,
    verify_answer,
)
from zkp.encoding import b64url_decode


def test_an_answer_survives_a_json_round_trip_and_still_verifies(context: Context) -> None:
    commitment, opening = commit(FAULT_CODE, "P0171")
    statement = Statement(FAULT_CODE, commitment, Predicate(Operator.IN, ("P0420", "P0300")))
    wire = json.dumps(answer(statement, opening, context).to_json())
    parsed = Answer.from_json(json.loads(wire))
    assert parsed.holds is False
    assert parsed.proven.predicate == Predicate(Operator.NOT_IN, ("P0420", "P0300"))
    verify_answer(parsed, Context.from_json(json.loads(json.dumps(context.to_json()))))


def test_flipping_the_answer_is_rejected(context: Context) -> None:
    commitment, opening = commit(AGE, 30)
    honest = answer(Statement(AGE, commitment, Predicate(Operator.GE, (18,))), opening, context)
    with pytest.raises(VerificationError):
        verify_answer(Answer(honest.statement, not honest.holds, honest.proof), context)


def test_statement_json_shape(context: Context) -> None:
    commitment, _ = commit(AGE, 30)
    statement = Statement(AGE, commitment, Predicate(Operator.WITHIN, (18, 65)))
    assert statement.to_json() == {
        "attribute": {"name": "age", "kind": "integer", "bit_width": 8},
        "commitment": commitment.to_json(),
        "predicate": {"op": "within", "operands": [18, 65]},
    }
    assert len(b64url_decode(commitment.to_json())) == 33
    assert Statement.from_json(statement.to_json()) == statement


def _statement_json() -> dict[str, Any]:
    commitment, _ = commit(AGE, 30)
    return Statement(AGE, commitment, Predicate(Operator.GE, (18,))).to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("predicate"),
        lambda d: d.update(extra=1),
        lambda d: d["predicate"].update(op="≥"),
        lambda d: d["predicate"].update(operands=[True]),
        lambda d: d["predicate"].update(operands=[300]),
        lambda d: d["attribute"].update(kind="float"),
        lambda d: d["attribute"].update(bit_width=65),
        lambda d: d.update(commitment="AA"),
        lambda d: d.update(commitment=d["commitment"] + "="),
    ],
)
def test_malformed_statements_are_refused(mutate: Any) -> None:
    data = _statement_json()
    mutate(data)
    with pytest.raises(EncodingError):
        Statement.from_json(data)


@pytest.mark.parametrize("text", ["A", "AB=", "AB+/", "AB C", 3])
def test_proofs_are_unpadded_canonical_base64url(text: object) -> None:
    with pytest.raises(EncodingError):
        Proof.from_json(text)


def test_proof_base64url_round_trip() -> None:
    proof = Proof(bytes(range(256)))
    assert "=" not in proof.to_json()
    assert Proof.from_json(proof.to_json()) == proof


@pytest.mark.parametrize(
    "data",
    [
        {"nonce": "", "client_id": "c", "purpose": "p", "expires_at": "2030-01-01T00:00:00Z"},
        {"nonce": "n", "client_id": "c", "purpose": "p", "expires_at": "tomorrow"},
        {"nonce": "n", "client_id": "c", "purpose": "p", "expires_at": "2030-01-01T00:00:00"},
        {"nonce": "n", "client_id": "c", "purpose": "p"},
        {"nonce": "n", "client_id": "c", "purpose": "p", "expires_at": "2030-01-01T00:00:00Z", "x": "y"},
        {"nonce": 1, "client_id": "c", "purpose": "p", "expires_at": "2030-01-01T00:00:00Z"},
    ],
)
def test_malformed_contexts_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(EncodingError):
        Context.from_json(data)


def test_answer_json_requires_a_boolean() -> None:
    with pytest.raises(EncodingError):
        Answer.from_json({"statement": _statement_json(), "holds": "yes", "proof": "AA"})


def test_schema_json_round_trip() -> None:
    for schema in (AGE, FAULT_CODE, AttributeSchema.integer("income_cents", 48)):
        assert AttributeSchema.from_json(schema.to_json()) == schema
