"""The gateway's side of the ledger for auditors: opening it with the checkpoint keys, signed checkpoints
at every published size, the index of ledger events by subject that the access log searches, the pseudonyms the
ledger knows customers by, and the entry that records a refusal for a purpose the client is not registered for.
"""

from gateway.audit.checkpoints import (
    CheckpointBook,
    SignedCheckpoint,
    note_signer_key,
    note_verifier_keys,
    open_ledger,
)
from gateway.audit.event_index import EventIndex, EventQuery
from gateway.audit.integrity import IntegrityState, LedgerIntegrity, audit_periodically
from gateway.audit.pseudonyms import Pseudonyms
from gateway.audit.refusals import REFUSED_EVENT, purpose_not_allowed, purpose_refusal

__all__ = [
    "REFUSED_EVENT",
    "CheckpointBook",
    "EventIndex",
    "EventQuery",
    "IntegrityState",
    "LedgerIntegrity",
    "Pseudonyms",
    "SignedCheckpoint",
    "audit_periodically",
    "note_signer_key",
    "note_verifier_keys",
    "open_ledger",
    "purpose_not_allowed",
    "purpose_refusal",
]
