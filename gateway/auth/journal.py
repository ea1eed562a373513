"""Where the authorization stores report what they changed: the ledger, through the runtime's journal.

Client registration, secret rotation, enabling and disabling, customer enrolment, identity links and identity
data recorded by an administrator are authorization actions: who may read what depends on them, so each one is
a ledger entry. The stores in this wing do not know the ledger (`auth` and `audit` are independent); the
runtime hands each a `Journal` (`gateway.audit.journal.AuthorizationJournal`). A store built without one (a
test, a tool holding only the database) records nothing.

A store hands its own write to the journal as `effects`, run inside the entry's ledger transaction: the change
and its entry commit together or not at all, so no change is acknowledged (nor in force) without its entry, and
no entry records a change that was rolled back. `write` is that choice, made once for every store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

__all__ = ["Journal", "write"]

T = TypeVar("T")


class Journal(Protocol):
    def __call__(
        self,
        type: str,
        *,
        actor: str,
        subject: str,
        payload: Mapping[str, Any],
        personal: bool,
        effects: Callable[[Connection, int], None] | None = None,
    ) -> int:
        """Append one entry and return its index; `personal`: `subject` is a customer id, to be pseudonymised;
        `effects(conn, index)` runs in the append's transaction (raising rolls both back)."""
        ...


def write(
    engine: Engine,
    journal: Journal | None,
    change: Callable[[Connection], T],
    type: str,
    *,
    actor: str,
    subject: str,
    payload: Mapping[str, Any],
    personal: bool,
) -> T:
    """Run `change` and record it: in the ledger entry's own transaction when there is a journal, else in a
    transaction of its own. An exception from `change` leaves neither the change nor the entry."""
    if journal is None:
        with engine.begin() as conn:
            return change(conn)
    done: list[T] = []

    def effects(conn: Connection, index: int) -> None:
        done.append(change(conn))

    journal(type, actor=actor, subject=subject, payload=payload, personal=personal, effects=effects)
    return done[0]
