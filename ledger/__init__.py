"""The tamper-evident ledger, pure: RFC 9162 Merkle hashing and proofs, C2SP signed notes and checkpoints,
entry envelopes, the audit rules, and the client that audits a running log from outside.

Nothing here reads a database or serves HTTP, so an auditor, a CRM or a wallet can verify with this package
alone (importing it loads neither SQLAlchemy nor a web framework). The log kept in SQL, with its sequencer,
tables, migrations and the audit over stored rows, is `ledger.store`.
"""

from ledger.audit import AuditReport, PayloadAudit, TreeReplay, check_entry, check_tree_head
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
from ledger.errors import EventError, LedgerError, TamperError
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
from ledger.randomness import random_bytes, random_uuid4
from ledger.remote_audit import (
    AuditFailure,
    AuditState,
    AuditUsageError,
    RemoteAuditReport,
    fetch_token,
    remote_audit,
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
    "AuditFailure",
    "AuditReport",
    "AuditState",
    "AuditUsageError",
    "Checkpoint",
    "CheckpointError",
    "Cosignature",
    "Event",
    "EventError",
    "LedgerError",
    "NoteError",
    "PayloadAudit",
    "ProofError",
    "RemoteAuditReport",
    "SignerKey",
    "TamperError",
    "TreeReplay",
    "VerifierKey",
    "add_signature",
    "check_entry",
    "check_tree_head",
    "consistency_proof",
    "cosign",
    "cosigner_verifier_key",
    "ed25519_verifier_key",
    "fetch_token",
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
    "random_bytes",
    "random_uuid4",
    "remote_audit",
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
