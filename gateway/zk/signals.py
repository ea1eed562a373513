"""Wake-ups between the requests of one worker: a question for a customer's waiting wallet, an answer for the
waiting CRM.

Only a shortcut: every waiter also re-reads the database at a short interval, so a question created or answered
by another worker (or process) is seen too, just later. Notifying may happen on any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Signals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._holding: dict[str, int] = {}

    @contextmanager
    def holding(self, key: str, limit: int) -> Iterator[bool]:
        """Count one held request for `key` while inside; yields False (and counts nothing) beyond `limit`."""
        with self._lock:
            taken = self._holding.get(key, 0)
            if taken >= limit:
                allowed = False
            else:
                self._holding[key] = taken + 1
                allowed = True
        try:
            yield allowed
        finally:
            if allowed:
                with self._lock:
                    left = self._holding[key] - 1
                    if left:
                        self._holding[key] = left
                    else:
                        del self._holding[key]

    def notify(self, key: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed: its waiter is gone
                continue

    async def wait(self, key: str, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification about `key`; True when one came."""
        if timeout <= 0:
            return False
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(key, set()).add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(entry)
                    if not waiting:
                        del self._waiters[key]
