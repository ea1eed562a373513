"""A customer's own evidence from the ledger: one entry about them and its inclusion proof, checked here
with the same pure verifiers an auditor runs, and downloadable so anyone can check it again offline.

Only entries whose subject is the customer's pseudonym are shown, and the entries of the aggregate queries their
data counted in; any other index answers "not found", so a customer cannot read the ledger at large through the
portal.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from gateway.analytics import Contributions
from gateway.auth.principals import CustomerPrincipal
from gateway.runtime import Runtime
from ledger import ProofError, leaf_hash, parse_envelope, verify_checkpoint, verify_inclusion

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
            "leaf_hash": base64.b64encode(self.leaf_hash).decode(),
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root).decode(),
            "audit_path": [base64.b64encode(node).decode() for node in self.audit_path],
            "checkpoint": self.checkpoint_note,
            "verifier_keys": self.verifier_keys,
            "origin": self.origin,
        }


def entry_proof(runtime: Runtime, customer: CustomerPrincipal, index: int) -> EntryProof | None:
    """The customer's entry at `index` with a verified inclusion proof, or None when it is not theirs."""
    ledger = runtime.ledger
    if not 0 <= index < ledger.size():
        return None
    data = ledger.entry(index)
    envelope = parse_envelope(data)
    subject = runtime.subject_pseudonym(customer.customer_id)
    if envelope["subject"] != subject and not Contributions(runtime.engine).contributed(subject, index):
        return None
    signed = runtime.checkpoints.latest()
    checkpoint = verify_checkpoint(signed.note, runtime.checkpoints.verifier_keys, runtime.checkpoints.origin)
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
        verifier_keys=list(runtime.checkpoints.verifier_keys),
        origin=runtime.checkpoints.origin,
        problem=problem,
    )
