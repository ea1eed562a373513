"""The tamper-evident ledger: RFC 9162 Merkle hashing and proofs, C2SP checkpoints, SQL storage.

Verification (`verify_inclusion`, `verify_consistency`) is pure so auditors can use it alone.
"""

from ledger.envelope import Event, parse_envelope, pseudonym
from ledger.errors import EventError, LedgerError, NotALedgerError, TamperError
from ledger.log import Ledger
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
    "Event",
    "EventError",
    "Ledger",
    "LedgerError",
    "NotALedgerError",
    "ProofError",
    "TamperError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_envelope",
    "pseudonym",
    "root_from_hashes",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
