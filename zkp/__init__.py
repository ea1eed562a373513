"""Zero-knowledge predicate proofs over Pedersen commitments on NIST P-256.

Pure library (no I/O, no database, no web framework). Two layers:

- source-signed statements answered by the customer's wallet: a source commits to a subject's attribute
  value and signs the statement (`issue_statement`), the wallet proves an answer to a question template
  from the opening (`answer_question`), the gateway anchors the statement in the ledger (`anchor_event`,
  `Evidence`), and a relying party checks the whole answer with public keys only (`verify_full_answer`);
- the commitment and proof primitives underneath (`commit`, `Statement`, `prove`, `verify`, `answer`),
  which the gateway's custodial flow still uses directly.
"""

from zkp.answer_verifier import (
    DEFAULT_MAX_CHECKPOINT_AGE,
    AnswerRejected,
    TrustAnchors,
    VerifiedAnswer,
    contradiction,
    verify_full_answer,
)
from zkp.binding import SUBJECT_SALT_SIZE, new_subject_salt, subject_binding
from zkp.errors import EncodingError, ProofRefused, SchemaError, VerificationError, ZkpError
from zkp.evidence import ANCHOR_ACTOR, ANCHOR_EVENT, Evidence, Successor, anchor_entry, anchor_event, anchor_time
from zkp.group import H_DOMAIN_TAG
from zkp.pedersen import Commitment, Opening, commit
from zkp.proof import Answer, Proof, answer, prove, verify, verify_answer
from zkp.proven_answer import ProvenAnswer, answer_question, check_answer_proof
from zkp.question import Question, QuestionTemplate
from zkp.schema import MAX_SET_ELEMENTS, AttributeKind, AttributeSchema, category_scalar
from zkp.sets import SetOpening, commit_set
from zkp.source_statement import (
    HeldStatement,
    SignedStatement,
    SourceStatement,
    check_succession,
    issue_statement,
    overlapping,
    parse_source_keys,
    sign_statement,
)
from zkp.statement import Context, Operator, Predicate, Statement
from zkp.times import format_utc, parse_utc

__all__ = [
    "ANCHOR_ACTOR",
    "ANCHOR_EVENT",
    "DEFAULT_MAX_CHECKPOINT_AGE",
    "H_DOMAIN_TAG",
    "MAX_SET_ELEMENTS",
    "SUBJECT_SALT_SIZE",
    "Answer",
    "AnswerRejected",
    "AttributeKind",
    "AttributeSchema",
    "Commitment",
    "Context",
    "EncodingError",
    "Evidence",
    "HeldStatement",
    "Opening",
    "Operator",
    "Predicate",
    "Proof",
    "ProofRefused",
    "ProvenAnswer",
    "Question",
    "QuestionTemplate",
    "SchemaError",
    "SetOpening",
    "SignedStatement",
    "SourceStatement",
    "Statement",
    "Successor",
    "TrustAnchors",
    "VerificationError",
    "VerifiedAnswer",
    "ZkpError",
    "anchor_entry",
    "anchor_event",
    "anchor_time",
    "answer",
    "answer_question",
    "category_scalar",
    "check_answer_proof",
    "check_succession",
    "commit",
    "commit_set",
    "contradiction",
    "format_utc",
    "issue_statement",
    "new_subject_salt",
    "overlapping",
    "parse_source_keys",
    "parse_utc",
    "prove",
    "sign_statement",
    "subject_binding",
    "verify",
    "verify_answer",
    "verify_full_answer",
]
