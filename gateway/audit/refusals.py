"""The ledger entry of a request refused before any decision releases anything, with the reason.

Every route that takes a purpose (proxied reads, "may I?" checks, profile reads, zero-knowledge questions,
aggregate queries) refuses a client not registered for the purpose it declares the same way: one `access.refused`
entry shaped like the proxy's, then 403 `purpose-not-allowed` naming that entry. An aggregate query whose cohort
is below the minimum is refused with the same entry (reason `cohort-too-small`): an auditor sees every attempt,
not only the answered ones. The payload names the route's target (source, attribute), never a customer's value
(nor, for a cohort, its size). Each route appends the entry with its own ledger handling (nothing is answered when
it cannot).
"""

from __future__ import annotations

from gateway.web.problems import Problem
from ledger import Event

__all__ = [
    "COHORT_TOO_SMALL",
    "PURPOSE_NOT_ALLOWED",
    "REFUSED_EVENT",
    "purpose_not_allowed",
    "purpose_refusal",
    "refusal",
]

REFUSED_EVENT = "access.refused"  # refused before anything is released
PURPOSE_NOT_ALLOWED = "purpose-not-allowed"  # a purpose the client is not registered for
COHORT_TOO_SMALL = "cohort-too-small"  # an aggregate over fewer customers than the minimum


def refusal(
    actor: str, subject: str, recipient: str, client_id: str, purpose: str, reason: str, **target: str | int
) -> Event:
    """The entry: the customer's pseudonym as subject when the request names a customer (they see the attempt),
    the client's actor when it names no one; `reason` is the problem kind the client was answered with."""
    payload: dict[str, object] = {
        "recipient": recipient,
        "client_id": client_id,
        "purpose": purpose,
        **target,
        "outcome": "refused",
        "reason": reason,
        "released": [],
        "withheld": {},
    }
    return Event(REFUSED_EVENT, actor, subject, payload)


def purpose_refusal(actor: str, subject: str, recipient: str, client_id: str, purpose: str, **target: str) -> Event:
    return refusal(actor, subject, recipient, client_id, purpose, PURPOSE_NOT_ALLOWED, **target)


def purpose_not_allowed(purpose: str, ledger_index: int) -> Problem:
    return Problem(
        403,
        PURPOSE_NOT_ALLOWED,
        f"Your client is not registered for the purpose {purpose!r}.",
        headers={"Consentry-Ledger-Index": str(ledger_index)},
        ledger_index=ledger_index,
    )
