"""The tamper-evident ledger: RFC 9162 Merkle hashing and proofs, C2SP checkpoints, SQL storage.

Verification (`verify_inclusion`, `verify_consistency`) is pure so auditors can use it alone.
"""

from ledger.rfc9162 import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_hashes",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
