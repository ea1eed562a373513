"""Where the authorization stores report what they changed: the ledger, through the runtime's journal.

Client registration, secret rotation, enabling and disabling, customer enrolment, identity links and identity
data recorded by an administrator are authorization actions: who may read what depends on them, so each one is
a ledger entry. The stores in this wing do not know the ledger (`auth` and `audit` are independent); the
runtime hands each a `Journal` (`gateway.audit.journal.AuthorizationJournal`). A store built without one (a
test, a tool holding only the database) records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Journal"]


class Journal(Protocol):
    def __call__(self, type: str, *, actor: str, subject: str, payload: Mapping[str, Any], personal: bool) -> int:
        """Append one entry and return its index; `personal`: `subject` is a customer id, to be pseudonymised."""
        ...
