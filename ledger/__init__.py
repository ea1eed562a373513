"""The tamper-evident ledger: RFC 9162 Merkle hashing and proofs, C2SP checkpoints, SQL storage.

Verification (`verify_inclusion`, `verify_consistency`, `verify_note`) is pure so auditors can use it alone.
"""

from ledger.audit import AuditReport, audit
from ledger.checkpoint import Checkpoint, CheckpointError, sign_checkpoint, verify_checkpoint
from ledger.envelope import Event, parse_envelope, payload_hash, pseudonym
from ledger.errors import EventError, LedgerError, NotALedgerError, TamperError
from ledger.log import Ledger
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

__all__ = [
    "EMPTY_ROOT",
    "AuditReport",
    "Checkpoint",
    "CheckpointError",
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
    "ed25519_verifier_key",
    "generate_signer_key",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "note_key_id",
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
    "verify_inclusion",
    "verify_note",
]
