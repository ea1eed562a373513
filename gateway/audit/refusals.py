"""The ledger entry of a request refused because the client is not registered for the purpose it declares.

Every route that takes a purpose (proxied reads, "may I?" checks, profile reads, zero-knowledge questions,
aggregate queries) refuses such a request the same way: one `access.refused` entry shaped like the proxy's, then
403 `purpose-not-allowed` naming that entry. The payload names the route's target (source, attribute), never a
customer's value. Each route appends the entry with its own ledger handling (nothing is answered when it cannot).
"""

from __future__ import annotations

from gateway.web.problems import Problem
from ledger import Event

__all__ = ["REFUSED_EVENT", "purpose_not_allowed", "purpose_refusal"]

REFUSED_EVENT = "access.refused"  # refused before any decision (a purpose the client is not registered for)


def purpose_refusal(actor: str, subject: str, recipient: str, client_id: str, purpose: str, **target: str) -> Event:
    """The entry: the customer's pseudonym as subject when the request names a customer (they see the attempt),
    the client's actor when it names no one."""
    payload = {
        "recipient": recipient,
        "client_id": client_id,
        "purpose": purpose,
        **target,
        "outcome": "refused",
        "reason": "purpose-not-allowed",
        "released": [],
        "withheld": {},
    }
    return Event(REFUSED_EVENT, actor, subject, payload)


def purpose_not_allowed(purpose: str, ledger_index: int) -> Problem:
    return Problem(
        403,
        "purpose-not-allowed",
        f"Your client is not registered for the purpose {purpose!r}.",
        headers={"Consentry-Ledger-Index": str(ledger_index)},
        ledger_index=ledger_index,
    )
