"""Zero-knowledge predicate proofs over Pedersen commitments on NIST P-256.

Pure library (no I/O): a gateway commits to attribute values and answers yes/no questions about them
with proofs; a relying party needs only `Statement`, `Context`, `Proof`/`Answer` and `verify`.
"""

from zkp.errors import EncodingError, ProofRefused, SchemaError, VerificationError, ZkpError
from zkp.group import H_DOMAIN_TAG
from zkp.pedersen import Commitment, Opening, commit
from zkp.proof import Answer, Proof, answer, prove, verify, verify_answer
from zkp.schema import AttributeKind, AttributeSchema, category_scalar
from zkp.statement import Context, Operator, Predicate, Statement

__all__ = [
    "H_DOMAIN_TAG",
    "Answer",
    "AttributeKind",
    "AttributeSchema",
    "Commitment",
    "Context",
    "EncodingError",
    "Opening",
    "Operator",
    "Predicate",
    "Proof",
    "ProofRefused",
    "SchemaError",
    "Statement",
    "VerificationError",
    "ZkpError",
    "answer",
    "category_scalar",
    "commit",
    "prove",
    "verify",
    "verify_answer",
]
