"""The tamper-evident ledger: RFC 9162 Merkle hashing and proofs, C2SP checkpoints, SQL storage.

Verification (`verify_inclusion`, `verify_consistency`, `verify_note`, `verify_cosignatures`) is pure so
auditors can use it alone: `import ledger` loads no database library. The storage names (`Ledger`, `audit`,
`AuditReport`) load SQLAlchemy and Alembic on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ledger.checkpoint import Checkpoint, CheckpointError, sign_checkpoint, verify_checkpoint
from ledger.cosignature import (
    Cosignature,
    cosign,
    cosigner_verifier_key,
    generate_cosigner_key,
    parse_cosigner_verifier_key,
    verify_cosignatures,
)
from ledger.envelope import Event, parse_envelope, payload_hash, pseudonym
from ledger.errors import EventError, LedgerError, NotALedgerError, TamperError
from ledger.note import (
    NoteError,
    SignerKey,
    VerifierKey,
    add_signature,
    ed25519_verifier_key,
    generate_signer_key,
    note_key_id,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verifier_key_from_signer,
    verify_note,
)
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

if TYPE_CHECKING:
    from ledger.audit import AuditReport, audit
    from ledger.log import Ledger

_STORAGE = {"AuditReport": "ledger.audit", "audit": "ledger.audit", "Ledger": "ledger.log"}


def __getattr__(name: str) -> Any:
    """PEP 562: the storage API is imported when first named, so verifiers never load a database library."""
    module = _STORAGE.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "EMPTY_ROOT",
    "AuditReport",
    "Checkpoint",
    "CheckpointError",
    "Cosignature",
    "Event",
    "EventError",
    "Ledger",
    "LedgerError",
    "NotALedgerError",
    "NoteError",
    "ProofError",
    "SignerKey",
    "TamperError",
    "VerifierKey",
    "add_signature",
    "audit",
    "consistency_proof",
    "cosign",
    "cosigner_verifier_key",
    "ed25519_verifier_key",
    "generate_cosigner_key",
    "generate_signer_key",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "note_key_id",
    "parse_cosigner_verifier_key",
    "parse_envelope",
    "parse_signer_key",
    "parse_verifier_key",
    "payload_hash",
    "pseudonym",
    "root_from_hashes",
    "root_hash",
    "sign_checkpoint",
    "sign_note",
    "verifier_key_from_signer",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "verify_note",
]
