"""The exceptions of `zkp`: each failure has a name, so callers can tell a bad proof from bad input."""

from __future__ import annotations


class ZkpError(Exception):
    """Base class of every error this package raises on purpose."""


class EncodingError(ZkpError):
    """Bytes or JSON that do not decode to a well-formed value (point, scalar, statement, opening)."""


class SchemaError(ZkpError):
    """A value, operand or predicate that the attribute's schema does not admit."""


class ProofRefused(ZkpError):
    """The honest prover will not prove a statement that is false for the opening it holds."""


class VerificationError(ZkpError):
    """A proof does not establish its statement in this context; the message says which check failed."""
