"""The ledger entries of authorization actions (`gateway.auth.journal.Journal`, as the runtime provides it).

A customer named by an action appears by pseudonym, as in every other entry; clients and operators are not data
subjects and appear by their ids. Payloads name what changed, never a secret, a password or an identity number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gateway.audit.pseudonyms import Pseudonyms
from ledger import Event
from ledger.store import Ledger

__all__ = ["AuthorizationJournal"]


@dataclass(frozen=True)
class AuthorizationJournal:
    ledger: Ledger
    pseudonyms: Pseudonyms

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
        named = self.pseudonyms(subject) if personal else subject
        return self.ledger.append(Event(type=type, actor=actor, subject=named, payload=dict(payload)), effects=effects)
