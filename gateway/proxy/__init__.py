"""One proxied read and the "may I?" question: resolve the client and the subject, decide per category,
fetch and filter the upstream's record, and record the access in the ledger before anything is released.
"""

from gateway.proxy.access import (
    ACCESS_EVENT,
    CHECK_EVENT,
    PURPOSE_HEADER,
    AccessFlow,
    AccessOutcome,
    CheckOutcome,
    check,
    public_reasons,
    read,
)

__all__ = [
    "ACCESS_EVENT",
    "CHECK_EVENT",
    "PURPOSE_HEADER",
    "AccessFlow",
    "AccessOutcome",
    "CheckOutcome",
    "check",
    "public_reasons",
    "read",
]
