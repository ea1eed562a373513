"""CPU time of a process and its descendants, read from Linux's /proc, so a benchmark can say what each party
of a run (load generator, upstream, hop) spent per request rather than only how long the run took."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_tree_cpu_s"]

_PROC = Path("/proc")


def _stat_fields(path: Path) -> list[str]:
    # the command name, in parentheses, may itself hold spaces and parentheses
    return path.read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (_PROC / str(pid) / "task").iterdir():
        children = task / "children"
        if children.exists():
            found += [int(child) for child in children.read_text().split()]
    return found


def process_tree_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of ``pid`` and all its live descendants; None where /proc cannot tell."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [pid]
    try:
        while pending:
            current = pending.pop()
            fields = _stat_fields(_PROC / str(current) / "stat")
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
            pending += _children(current)
    except (OSError, ValueError, IndexError):
        return None
    return total / ticks
