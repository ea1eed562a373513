"""The gateway's notion of "now" for retention periods, as a collaborator a test can replace.

Periods measured in days cannot be tested by waiting, so the retention wing asks its `Clock` instead of the
system. Production always runs `SystemClock`; the only way to move time is to hand a running `Runtime` another
clock object, which only code in the same process can do (the test suite's own launcher, never an HTTP route or
a setting). Leases, tokens and sessions keep real time: a moved clock must not hand work between processes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time: what every production gateway uses."""

    def now(self) -> datetime:
        return datetime.now(UTC)
