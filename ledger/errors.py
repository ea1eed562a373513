"""The ledger's exceptions; proof failures stay `ProofError` from `ledger.rfc9162`, note failures `NoteError`."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger cannot do what was asked; the message says why."""


class EventError(LedgerError, ValueError):
    """An event cannot become a ledger entry (missing field, naive time, payload that is not JSON).

    `position` is the event's place in an `append_many` batch, so a bulk import can name its line.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class TamperError(LedgerError):
    """The log's data does not verify; `where` names the first bad entry, node, payload or checkpoint."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
