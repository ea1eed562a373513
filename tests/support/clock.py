"""`SettableClock`: the test suite's stand-in for `gateway.clock.SystemClock` (retention periods without waiting)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SettableClock:
    """Real time shifted by an offset the test sets, so time still passes between two reads."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._offset = moment - datetime.now(UTC)

    def advance(self, days: float) -> datetime:
        with self._lock:
            self._offset += timedelta(days=days)
        return self.now()
