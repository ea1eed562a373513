"""RFC 9162 §2.1: roots and proofs built from the stored nodes equal the in-memory reference builders."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from ledger import (
    Event,
    LedgerError,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.store import Ledger


def events(count: int, start: int = 0) -> list[Event]:
    return [Event(type="test.event", actor="system", payload={"n": start + i}) for i in range(count)]


def assert_matches_reference(ledger: Ledger) -> None:
    leaves = ledger.entries(0, ledger.size())
    for n in range(len(leaves) + 1):
        assert ledger.root(n) == root_hash(leaves[:n])
        for i in range(n):
            proof = ledger.inclusion_proof(i, n)
            assert proof == inclusion_proof(leaves, i, n), (i, n)
            verify_inclusion(leaf_hash(leaves[i]), i, n, proof, ledger.root(n))
        for m in range(n + 1):
            proof = ledger.consistency_proof(m, n)
            assert proof == consistency_proof(leaves, m, n), (m, n)
            verify_consistency(m, n, proof, ledger.root(m), ledger.root(n))


def test_every_root_and_proof_of_a_33_leaf_tree_equals_the_reference(ledger: Ledger) -> None:
    for count in (1, 2, 5, 8, 17):  # batches that straddle subtree boundaries
        ledger.append_many(events(count, ledger.size()))
    assert ledger.size() == 33
    assert_matches_reference(ledger)


@settings(max_examples=12, deadline=None)
@given(batches=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=5))
def test_any_batching_of_appends_stores_the_same_tree_as_the_reference(batches: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        try:
            for count in batches:
                if count == 1:
                    ledger.append(events(1, ledger.size())[0])
                else:
                    ledger.append_many(events(count, ledger.size()))
            assert ledger.size() == sum(batches)
            assert_matches_reference(ledger)
        finally:
            ledger.close()


def test_the_empty_log_has_the_empty_tree_hash_and_no_inclusion_proofs(ledger: Ledger) -> None:
    assert ledger.size() == 0
    assert ledger.root() == root_hash([])
    assert ledger.consistency_proof(0, 0) == []
    with pytest.raises(ProofError, match="not below tree size 0"):
        ledger.inclusion_proof(0, 0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lg: lg.inclusion_proof(4, 4), "index 4 is not below tree size 4"),
        (lambda lg: lg.inclusion_proof(-1, 4), "index -1"),
        (lambda lg: lg.inclusion_proof(0, 5), "tree size 5 is beyond the log's size 4"),
        (lambda lg: lg.consistency_proof(3, 2), "size1 3 is not within 0..size2"),
        (lambda lg: lg.consistency_proof(1, 9), "tree size 9 is beyond"),
        (lambda lg: lg.root(-1), "tree size -1 is negative"),
        (lambda lg: lg.root(5), "tree size 5 is beyond"),
    ],
)
def test_sizes_and_indices_out_of_range_raise_proof_error(
    sqlite_url: str, call: Callable[[Ledger], object], message: str
) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ledger.append_many(events(4))
        with pytest.raises(ProofError, match=message):
            call(ledger)


def test_a_proof_needing_a_deleted_node_names_it(ledger: Ledger) -> None:
    ledger.append_many(events(4))
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ledger_nodes WHERE level = 1 AND idx = 1")
    with pytest.raises(LedgerError, match=r"node \(level 1, index 1\) is missing"):
        ledger.inclusion_proof(0, 4)
    assert ledger.consistency_proof(2, 3) == consistency_proof(ledger.entries(0, 4), 2, 3)


def test_a_database_failure_during_a_proof_is_sqlalchemy_error_and_frees_the_connection(ledger: Ledger) -> None:
    """Callers (CLI, HTTP) map SQLAlchemy's errors to messages; the proof fast path must raise the same kind."""
    ledger.append_many(events(4))
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE ledger_nodes RENAME TO ledger_nodes_gone")
    in_use = ledger.engine.pool.checkedout()  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="ledger_nodes"):
        ledger.inclusion_proof(0, 4)
    assert ledger.engine.pool.checkedout() == in_use  # type: ignore[attr-defined]
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE ledger_nodes_gone RENAME TO ledger_nodes")
    assert ledger.inclusion_proof(0, 4) == inclusion_proof(ledger.entries(0, 4), 0, 4)
