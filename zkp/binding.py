"""The subject binding: which subject a source statement is about, without the ledger naming the subject.

binding = SHA-256(len ‖ tag ‖ salt ‖ len ‖ subject), with a salt of exactly 16 bytes and 4-byte big-endian
lengths. Both rules matter: without a length prefix `salt ‖ "cust-11001"` and `(salt ‖ "cust-") ‖ "11001"`
hash alike, and without a fixed salt length a verifier would accept the second reading, so an answer about
one subject would verify as an answer about another. The salt (random, kept by the source for the subject)
stops anyone who sees the ledger from testing guessed subject ids against the binding; the wallet discloses
it to the verifier it answers, who already knows the subject.
"""

from __future__ import annotations

import hashlib
import secrets

from zkp.errors import EncodingError

SUBJECT_SALT_SIZE = 16
BINDING_SIZE = 32
MAX_SUBJECT_LENGTH = 256
BINDING_TAG = b"consentry/zkp/v1/subject-binding"


def new_subject_salt() -> bytes:
    """A fresh salt for a subject; the source keeps it, so the subject's statements share one binding."""
    return secrets.token_bytes(SUBJECT_SALT_SIZE)


def subject_binding(salt: bytes, subject: str) -> bytes:
    """The 32-byte binding of `subject` under `salt`; refuses a salt that is not exactly 16 bytes."""
    if not isinstance(salt, bytes) or len(salt) != SUBJECT_SALT_SIZE:
        raise EncodingError(f"the subject salt is exactly {SUBJECT_SALT_SIZE} bytes")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise EncodingError(f"the subject is a string of 1 to {MAX_SUBJECT_LENGTH} characters")
    encoded = subject.encode("utf-8")
    return hashlib.sha256(
        len(BINDING_TAG).to_bytes(4, "big") + BINDING_TAG + salt + len(encoded).to_bytes(4, "big") + encoded
    ).digest()
