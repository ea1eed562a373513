"""A customer's own evidence from the ledger: one entry about them and its inclusion proof, checked here
with the same pure verifiers an auditor runs, and downloadable so anyone can check it again offline.

Only entries whose subject is the customer's pseudonym are shown, and the entries of the aggregate queries their
data counted in; any other index answers "not found", so a customer cannot read the ledger at large through the
portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.analytics import Contributions
from gateway.audit.checkpoints import CheckpointBook
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.principals import CustomerPrincipal
from ledger import ProofError, leaf_hash, parse_envelope, verify_checkpoint, verify_inclusion
from ledger.b64 import b64encode
from ledger.store import Ledger

__all__ = ["EntryProof", "entry_proof"]


@dataclass(frozen=True)
class EntryProof:
    index: int
    envelope: dict[str, Any]
    payload: Any
    leaf_hash: bytes
    tree_size: int
    root: bytes
    audit_path: list[bytes]
    checkpoint_note: str
    verifier_keys: list[str]
    origin: str
    problem: str | None

    @property
    def verified(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        """Everything an offline verifier needs (RFC 9162 §2.1.3.2 and a C2SP checkpoint)."""
        return {
            "leaf_index": self.index,
            "entry": self.envelope,
            "leaf_hash": b64encode(self.leaf_hash),
            "tree_size": self.tree_size,
            "root_hash": b64encode(self.root),
            "audit_path": [b64encode(node) for node in self.audit_path],
            "checkpoint": self.checkpoint_note,
            "verifier_keys": self.verifier_keys,
            "origin": self.origin,
        }


def entry_proof(
    ledger: Ledger,
    checkpoints: CheckpointBook,
    pseudonyms: Pseudonyms,
    contributions: Contributions,
    customer: CustomerPrincipal,
    index: int,
) -> EntryProof | None:
    """The customer's entry at `index` with a verified inclusion proof, or None when it is neither theirs nor an
    aggregate their data counted in."""
    if not 0 <= index < ledger.size():
        return None
    data = ledger.entry(index)
    envelope = parse_envelope(data)
    subject = pseudonyms(customer.customer_id)
    if envelope["subject"] != subject and not contributions.contributed(subject, index):
        return None
    signed = checkpoints.latest()
    checkpoint = verify_checkpoint(signed.note, checkpoints.verifier_keys, checkpoints.origin)
    path = ledger.inclusion_proof(index, checkpoint.size)
    leaf = leaf_hash(data)
    try:
        verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root)
        problem = None
    except ProofError as exc:
        problem = str(exc)
    return EntryProof(
        index=index,
        envelope=envelope,
        payload=ledger.payload(index),
        leaf_hash=leaf,
        tree_size=checkpoint.size,
        root=checkpoint.root,
        audit_path=path,
        checkpoint_note=signed.note,
        verifier_keys=list(checkpoints.verifier_keys),
        origin=checkpoints.origin,
        problem=problem,
    )
