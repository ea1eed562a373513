"""Stored checkpoints: C2SP notes signed by the log's key, every one kept, latest first to hand."""

from __future__ import annotations

import itertools

import pytest

from ledger import Event, LedgerError, generate_signer_key, verify_checkpoint, verify_consistency
from ledger.store import Ledger


def test_every_published_checkpoint_is_kept_and_consistent_with_the_next(db_url: str) -> None:
    signer, verifier = generate_signer_key("example.org/consent-log")
    with Ledger.open(db_url, signer_key=signer) as ledger:
        assert ledger.latest_checkpoint() is None
        empty = verify_checkpoint(ledger.checkpoint(), [verifier], origin="example.org/consent-log")
        assert (empty.size, empty.root) == (0, ledger.root(0))
        for n in range(3):
            ledger.append_many([Event("consent.given", "system")] * (n + 2))
            ledger.checkpoint()
        notes = ledger.checkpoints()
        assert len(notes) == 4
        assert ledger.latest_checkpoint() == notes[-1]
        checkpoints = [verify_checkpoint(note, [verifier]) for note in notes]
        assert [c.size for c in checkpoints] == [0, 2, 5, 9]
        for old, new in itertools.pairwise(checkpoints):
            assert new.root == ledger.root(new.size)
            verify_consistency(old.size, new.size, ledger.consistency_proof(old.size, new.size), old.root, new.root)


def test_checkpoints_need_a_usable_signer_key(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger, pytest.raises(LedgerError, match="no signer key"):
        ledger.checkpoint()
    with pytest.raises(LedgerError, match="signer key is unusable"):
        Ledger.open(sqlite_url, signer_key="PRIVATE+KEY+broken")
