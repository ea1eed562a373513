"""Runs didkit in a child process.

didkit 0.3's Rust runtime can release the GIL from a worker thread while the interpreter finalizes,
which aborts the process at exit ("PyGILState_Release ... finalizing"). Confining didkit to a child
process keeps that crash away from the gateway, the test runner and the benchmark.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import statistics
import sys
import threading
import time
from typing import Any

import didkit


def initialize() -> None:
    """Leave the worker with os._exit once its work is done, before finalization can reach didkit's crash,
    and as soon as the parent is gone (see `_follow_parent`)."""

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    atexit.register(leave)
    threading.Thread(target=_follow_parent, args=(os.getppid(),), name="didkit-parent-watch", daemon=True).start()


def _follow_parent(parent: int, interval: float = 1.0) -> None:
    """A spawned pool worker holds both ends of its call-queue pipe, so a parent killed outright (SIGKILL, the
    OOM killer) never makes that pipe report EOF, and the worker would wait on it forever: exit instead once
    this process has been handed to another parent."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(0)


class DidkitFailure(Exception):
    """didkit raised; carried back to the parent as a plain, picklable exception."""


async def _issue(credential: str, options: str, key: str) -> str:
    return str(await didkit.issue_credential(credential, options, key))


async def _verify(payload: str, options: str) -> str:
    return str(await didkit.verify_credential(payload, options))


def issue(credential: str, options: str, key: str) -> str:
    try:
        return asyncio.run(_issue(credential, options, key))
    except Exception as exc:
        raise DidkitFailure(str(exc)) from None


def verify(payload: str, options: str) -> str:
    try:
        return asyncio.run(_verify(payload, options))
    except Exception as exc:
        raise DidkitFailure(str(exc)) from None


def benchmark(credential: str, options: str, key: str, count: int, rounds: int, cpu: int | None) -> dict[str, float]:
    """Median issuances/s and verifications/s of didkit's LD proofs, measured inside this process."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    loop = asyncio.new_event_loop()
    try:
        issued = [loop.run_until_complete(_issue(credential, options, key))]

        def rate(operation: Any) -> float:
            rates = []
            for _ in range(rounds):
                started = time.perf_counter()
                for i in range(count):
                    operation(i)
                rates.append(count / (time.perf_counter() - started))
            return round(statistics.median(rates), 1)

        def one_issue(i: int) -> None:
            issued.append(loop.run_until_complete(_issue(credential, options, key)))

        def one_verify(i: int) -> None:
            verdict = json.loads(loop.run_until_complete(_verify(issued[i % len(issued)], '{"proofFormat":"ldp"}')))
            if verdict["errors"]:
                raise DidkitFailure(f"didkit failed to verify its own credential: {verdict['errors']}")

        return {"issuances_per_s": rate(one_issue), "verifications_per_s": rate(one_verify)}
    finally:
        loop.close()
