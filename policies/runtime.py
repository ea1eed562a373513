"""Wiring for a process: the ledger, the policies tables, the stores and the decision engine over one database."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine

from ledger.store import Ledger
from policies.engine import DecisionEngine
from policies.matrix import DEFAULT_MATRIX, Matrix, load_matrix
from policies.migrate import upgrade
from policies.store import ConsentStore, PolicyConflictError, PolicyStore, SqlState
from policies.taxonomy import DEFAULT_TAXONOMY, Taxonomy, load_taxonomy


@dataclass
class PolicyRuntime:
    ledger: Ledger
    taxonomy: Taxonomy
    consents: ConsentStore
    matrix: PolicyStore
    engine: DecisionEngine
    owns_ledger: bool = True

    def close(self) -> None:
        self.engine.close()
        if self.owns_ledger:
            self.ledger.close()


def open_policies(
    url: str,
    *,
    pseudonym_key: bytes,
    taxonomy: Taxonomy | Path | str = DEFAULT_TAXONOMY,
    seed_matrix: Matrix | Path | str | None = DEFAULT_MATRIX,
    ledger: Ledger | None = None,
    actor: str = "system",
) -> PolicyRuntime:
    """Open (migrating) everything at `url`; on an empty matrix, store `seed_matrix` as version 1 via the ledger.

    Pass an already open `ledger` to share it (the gateway does); otherwise one is opened and owned here.
    """
    own = ledger is None
    led = ledger if ledger is not None else Ledger.open(url)
    upgrade(led.engine)
    tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
    store = PolicyStore(led, tax)
    if seed_matrix is not None and store.version() == 0:
        matrix = seed_matrix if isinstance(seed_matrix, Matrix) else load_matrix(tax, seed_matrix)
        # Another process may seed it first: theirs is the same file or newer.
        with contextlib.suppress(PolicyConflictError):
            store.apply(matrix, actor=actor, note=f"initial matrix from {matrix.source}")
    return PolicyRuntime(
        ledger=led,
        taxonomy=tax,
        consents=ConsentStore(led, tax, pseudonym_key=pseudonym_key),
        matrix=store,
        engine=DecisionEngine(tax, SqlState(create_engine(led.engine.url), taxonomy=tax, owned=True)),
        owns_ledger=own,
    )
