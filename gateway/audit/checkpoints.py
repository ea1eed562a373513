"""The gateway's side of the ledger: opening it with the checkpoint key ring, and signed checkpoints
that auditors can ask for at any published size.

Checkpoints are signed on demand: asking for the latest signs a fresh one whenever the log grew since
the last, so an auditor always gets a checkpoint covering every acknowledged entry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gateway.keys import KeyRing, SigningKey
from ledger import Checkpoint, ed25519_verifier_key, note_key_id, verify_checkpoint
from ledger.b64 import b64encode
from ledger.store import Ledger

ED25519_NOTE_ALGORITHM = b"\x01"


def note_signer_key(origin: str, key: SigningKey) -> str:
    """The C2SP signed-note private key string (`PRIVATE+KEY+name+id+base64(0x01 || seed)`) of a ring key."""
    key_id = note_key_id(origin, key.public_bytes)
    return f"PRIVATE+KEY+{origin}+{key_id:08x}+{b64encode(ED25519_NOTE_ALGORITHM + key.seed)}"


def note_verifier_keys(origin: str, ring: KeyRing) -> list[str]:
    """Verifier keys of every checkpoint key ever used, so checkpoints signed before a rotation verify."""
    return [ed25519_verifier_key(origin, key.public_bytes) for key in ring.keys]


def open_ledger(url: str, origin: str, ring: KeyRing) -> Ledger:
    """Open the ledger signing as its stored origin; `origin` names a ledger created now (it is fixed then)."""
    with Ledger.open(url) as unsigned:
        stored = unsigned.claim_origin(origin)
    return Ledger.open(url, signer_key=note_signer_key(stored, ring.current), create=False)


@dataclass(frozen=True)
class SignedCheckpoint:
    note: str
    checkpoint: Checkpoint


class CheckpointBook:
    """Published checkpoints by tree size, verified with our own keys before they are handed out."""

    def __init__(self, ledger: Ledger, verifier_keys: list[str], origin: str) -> None:
        self.ledger = ledger
        self.verifier_keys = verifier_keys
        self.origin = origin
        self._by_size: dict[int, SignedCheckpoint] = {}
        self._seen = 0
        self._lock = threading.Lock()

    def _parse(self, note: str) -> SignedCheckpoint:
        return SignedCheckpoint(note, verify_checkpoint(note, self.verifier_keys, self.origin))

    def _refresh(self) -> None:
        notes = self.ledger.checkpoints()
        for note in notes[self._seen :]:
            signed = self._parse(note)
            self._by_size.setdefault(signed.checkpoint.size, signed)
        self._seen = len(notes)

    def latest(self) -> SignedCheckpoint:
        """A checkpoint of the current size, signing one if the log grew since the last."""
        with self._lock:
            size = self.ledger.size()
            if size not in self._by_size:
                self._refresh()
            if size not in self._by_size:
                self.ledger.checkpoint()
                self._refresh()
            newest = max(self._by_size)
            return self._by_size[newest]

    def at(self, size: int) -> SignedCheckpoint | None:
        """The checkpoint published at exactly this size, if any."""
        with self._lock:
            if size not in self._by_size:
                self._refresh()
            return self._by_size.get(size)
