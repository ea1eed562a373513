"""Committing, proving, verifying and answering: the public entry points of `zkp`.

`answer` is what the gateway calls: it evaluates the predicate on the opening and proves either the
predicate or its negation, so a "no" is as verifiable as a "yes". `verify` and `verify_answer` are all a
relying party needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zkp import predicates
from zkp.encoding import ProofReader, ProofWriter, b64url_decode, b64url_encode
from zkp.errors import EncodingError, ProofRefused, VerificationError
from zkp.pedersen import Opening, check_opening
from zkp.statement import Context, Statement
from zkp.transcript import PROTOCOL_VERSION, Transcript

PROOF_FORMAT = PROTOCOL_VERSION.to_bytes(1, "big")


@dataclass(frozen=True)
class Proof:
    """Proof bytes as sent (base64url in JSON).

    Wire format: byte 0 is the format version (1); then, in the order the verifier reads them,
    33-byte SEC 1 compressed points and 32-byte big-endian scalars below the group order. The layout
    is fixed by the statement (operator, bit width, set size), so the bytes carry no tags or lengths
    and anything missing or left over is rejected."""

    data: bytes

    def to_json(self) -> str:
        return b64url_encode(self.data)

    @classmethod
    def from_json(cls, text: object) -> Proof:
        if not isinstance(text, str):
            raise EncodingError("proof is a base64url string")
        return cls(b64url_decode(text))

    def __len__(self) -> int:
        return len(self.data)


def _transcript(statement: Statement, context: Context) -> Transcript:
    transcript = Transcript("predicate-proof")
    statement.absorb(transcript)
    context.absorb(transcript)
    return transcript


def prove(statement: Statement, opening: Opening, context: Context) -> Proof:
    """Prove `statement` for the verifier in `context`; refuses (`ProofRefused`) unless it is true."""
    scalar = check_opening(statement.attribute, statement.commitment, opening)
    if not statement.predicate.holds(statement.attribute, opening.value):
        raise ProofRefused(f"the predicate {statement.predicate.op.value!r} is false for this opening")
    predicates.refuse_unsatisfiable(statement)
    writer = ProofWriter()
    predicates.prove_statement(_transcript(statement, context), writer, statement, scalar, opening.blinding)
    return Proof(PROOF_FORMAT + writer.getvalue())


def verify(statement: Statement, proof: Proof, context: Context, *, now: datetime | None = None) -> None:
    """Return only if `proof` establishes `statement` for `context`; otherwise raise `VerificationError`.

    Pass `now` to also refuse an expired context; nonce freshness is the caller's (stateful) business."""
    if now is not None and now >= context.expiry:
        raise VerificationError(f"the context expired at {context.expires_at}")
    read_proof(proof, lambda reader: predicates.verify_statement(_transcript(statement, context), reader, statement))


def read_proof(proof: Proof, check: Callable[[ProofReader], None]) -> None:
    """Run `check` over the proof's bytes after its format byte and insist it consumes all of them.

    Malformed bytes and a zero challenge (probability 2^-256) become a `VerificationError`: fail closed."""
    if proof.data[:1] != PROOF_FORMAT:
        raise VerificationError(f"unsupported proof format; expected version {PROTOCOL_VERSION}")
    reader = ProofReader(proof.data[1:])
    try:
        check(reader)
        reader.finish()
    except EncodingError as exc:
        raise VerificationError(f"malformed proof: {exc}") from exc
    except ArithmeticError as exc:
        raise VerificationError(f"proof rejected: {exc}") from exc


@dataclass(frozen=True)
class Answer:
    """The answer to a question, with the proof of whichever of the predicate and its negation holds."""

    statement: Statement
    holds: bool
    proof: Proof

    @property
    def proven(self) -> Statement:
        return self.statement if self.holds else self.statement.negated()

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement.to_json(), "holds": self.holds, "proof": self.proof.to_json()}

    @classmethod
    def from_json(cls, data: object) -> Answer:
        if not isinstance(data, dict) or set(data) != {"statement", "holds", "proof"}:
            raise EncodingError("answer is an object with exactly statement, holds and proof")
        if not isinstance(data["holds"], bool):
            raise EncodingError("answer holds is a boolean")
        return cls(Statement.from_json(data["statement"]), data["holds"], Proof.from_json(data["proof"]))


def answer(statement: Statement, opening: Opening, context: Context) -> Answer:
    """Evaluate the predicate on the opening and prove the answer, true or false."""
    check_opening(statement.attribute, statement.commitment, opening)
    holds = statement.predicate.holds(statement.attribute, opening.value)
    target = statement if holds else statement.negated()
    return Answer(statement, holds, prove(target, opening, context))


def verify_answer(answer: Answer, context: Context, *, now: datetime | None = None) -> None:
    """Check that the answer's proof establishes the predicate (when it holds) or its negation."""
    verify(answer.proven, answer.proof, context, now=now)
