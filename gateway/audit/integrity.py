"""The gateway auditing its own ledger: at start-up and periodically it re-hashes every stored entry and
checks the result against its latest signed checkpoint (`ledger.store.check_head`).

An operator (or an intruder) who edits a stored entry changes what auditors and customers are shown without
changing any signed tree head; the gateway that notices must stop vouching for its log: readiness fails and the
proxy releases nothing until the stored entries again produce the head it signed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from ledger import LedgerError, TamperError
from ledger.store import Ledger, check_head

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IntegrityState:
    """The outcome of the latest self-audit: `failure` names the first thing that did not hold, or is None."""

    checked: bool
    failure: str | None
    size: int


class LedgerIntegrity:
    """The latest self-audit of the ledger, shared by readiness and the proxy; safe to read from any thread."""

    def __init__(self, ledger: Ledger, verifier_keys: Sequence[str], origin: str) -> None:
        self._ledger = ledger
        self._verifier_keys = list(verifier_keys)
        self._origin = origin
        self._state = IntegrityState(checked=False, failure=None, size=0)
        self._lock = threading.Lock()

    @property
    def state(self) -> IntegrityState:
        return self._state

    @property
    def failure(self) -> str | None:
        """Why the ledger must not be served: a tamper found, or no audit run yet."""
        state = self._state
        if not state.checked:
            return "not audited yet"
        return state.failure

    def run(self) -> IntegrityState:
        """Re-hash the stored entries now. A storage error leaves the previous outcome (readiness reports the
        storage itself), so a log never audited stays unserved until an audit completes."""
        with self._lock:
            try:
                report = check_head(self._ledger, self._verifier_keys, self._origin)
            except TamperError as exc:
                log.error("ledger_self_audit_failed", where=exc.where, reason=exc.reason)
                self._state = IntegrityState(checked=True, failure=str(exc), size=self._state.size)
            except LedgerError as exc:
                log.error("ledger_self_audit_failed", reason=str(exc))
                self._state = IntegrityState(checked=True, failure=str(exc), size=self._state.size)
            except Exception as exc:  # storage unavailable: not a verdict on the log
                log.warning("ledger_self_audit_error", error_type=type(exc).__name__)
            else:
                if self._state.failure is not None:
                    log.info("ledger_self_audit_recovered", size=report.size)
                self._state = IntegrityState(checked=True, failure=None, size=report.size)
            return self._state


async def audit_periodically(integrity: LedgerIntegrity, interval_seconds: float) -> None:
    """Repeat the self-audit every `interval_seconds` (off the event loop) until cancelled."""
    while True:
        await asyncio.sleep(interval_seconds)
        await asyncio.to_thread(integrity.run)
