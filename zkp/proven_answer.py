"""The wallet's answer to a question: yes or no, proven from the opening of a source-signed statement.

The proof's Fiat–Shamir transcript absorbs, before any prover message, the statement's digest (source,
key, schema, subject binding, commitments, validity), the subject binding once more, the whole question
(template, subject, audience, purpose, nonce, asked and expiry instants) and the answer itself. A proof
therefore cannot be moved to another statement, subject, question, recipient or answer. A "no" proves
the template's negation, so it is as verifiable as a "yes".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zkp import predicates
from zkp.binding import subject_binding
from zkp.encoding import ProofReader, ProofWriter, b64url_decode, b64url_encode
from zkp.errors import EncodingError, ProofRefused, SchemaError
from zkp.pedersen import check_opening
from zkp.proof import PROOF_FORMAT, Proof, read_proof
from zkp.question import Question
from zkp.schema import AttributeKind
from zkp.sets import SetOpening, prove_set, verify_set
from zkp.source_statement import HeldStatement, SignedStatement, check_statement_opening
from zkp.statement import Predicate, Statement
from zkp.transcript import Transcript


@dataclass(frozen=True)
class ProvenAnswer:
    """What the wallet returns: the question, the statement it answered from, the salt that binds the
    statement to the question's subject, the answer and its proof."""

    question: Question
    statement: SignedStatement
    subject_salt: bytes
    holds: bool
    proof: Proof

    @property
    def proven(self) -> Predicate:
        """The predicate the proof establishes: the template's, or its negation for a "no"."""
        predicate = self.question.template.predicate
        return predicate if self.holds else predicate.negated()

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question.to_json(),
            "statement": self.statement.to_json(),
            "subject_salt": b64url_encode(self.subject_salt),
            "holds": self.holds,
            "proof": self.proof.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> ProvenAnswer:
        keys = {"question", "statement", "subject_salt", "holds", "proof"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise EncodingError(f"an answer is an object with exactly {', '.join(sorted(keys))}")
        if not isinstance(data["holds"], bool):
            raise EncodingError("holds is a boolean")
        return cls(
            Question.from_json(data["question"]),
            SignedStatement.from_json(data["statement"]),
            b64url_decode(data["subject_salt"]),
            data["holds"],
            Proof.from_json(data["proof"]),
        )


def _transcript(question: Question, signed: SignedStatement, holds: bool) -> Transcript:
    transcript = Transcript("source-statement-answer")
    transcript.append_message("statement", signed.statement.digest())
    transcript.append_message("subject_binding", signed.statement.subject_binding)
    question.absorb(transcript)
    transcript.append_message("answer", b"yes" if holds else b"no")
    return transcript


def answer_question(held: HeldStatement, question: Question) -> ProvenAnswer:
    """Evaluate the template on the held value and prove the answer; refuses a question the statement
    cannot answer (another attribute, another subject) with `ProofRefused`."""
    statement = held.statement
    schema = statement.attribute
    try:
        question.template.check(schema)
    except SchemaError as exc:
        raise ProofRefused(f"this statement cannot answer the question: {exc}") from exc
    if subject_binding(held.subject_salt, question.subject) != statement.subject_binding:
        raise ProofRefused("the question is about another subject than this statement")
    check_statement_opening(statement, held.opening)
    holds = question.template.predicate.holds(schema, held.value)
    proven = question.template.predicate if holds else question.template.predicate.negated()
    transcript = _transcript(question, held.signed, holds)
    writer = ProofWriter()
    if isinstance(held.opening, SetOpening):
        prove_set(transcript, writer, schema, statement.commitments, proven, held.opening)
    else:
        single = Statement(schema, statement.commitments[0], proven)
        predicates.refuse_unsatisfiable(single)
        single.absorb(transcript)
        scalar = check_opening(schema, statement.commitments[0], held.opening)
        predicates.prove_statement(transcript, writer, single, scalar, held.opening.blinding)
    return ProvenAnswer(question, held.signed, held.subject_salt, holds, Proof(PROOF_FORMAT + writer.getvalue()))


def check_answer_proof(answer: ProvenAnswer) -> None:
    """Return only if the proof establishes the answer to its question from its statement's commitments.

    This is the mathematics alone: who signed the statement, whether it is current, whether it is about the
    subject and whether the question is the one asked are `zkp.answer_verifier`'s business."""
    statement = answer.statement.statement
    transcript = _transcript(answer.question, answer.statement, answer.holds)

    def check(reader: ProofReader) -> None:
        if statement.attribute.kind is AttributeKind.CATEGORICAL_SET:
            verify_set(transcript, reader, statement.attribute, statement.commitments, answer.proven)
            return
        single = Statement(statement.attribute, statement.commitments[0], answer.proven)
        single.absorb(transcript)
        predicates.verify_statement(transcript, reader, single)

    read_proof(answer.proof, check)
