"""Issue 17, point 12: `consentry demo` stopped by SIGTERM or SIGINT stops its gateway and vehicle cloud too.

Real processes: the demo is started as a script would start it in the background (its own session, and for
SIGINT with SIGINT ignored, as a shell hands it to a background job); the test finds its children in /proc,
signals the demo alone, and checks the demo exits and none of its children is left running as an orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import _free_port


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm", "sigint-background"],
)
def test_a_signal_to_the_demo_stops_its_children_and_waits_for_them(
    tmp_path: Path, signum: signal.Signals, sigint_ignored: bool
) -> None:
    consentry = Path(sys.executable).with_name("consentry")
    command = [str(consentry), "demo", "--data-dir", str(tmp_path / "demo")]
    command += ["--port", str(_free_port()), "--upstream-port", str(_free_port())]
    demo = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=ignore_sigint if sigint_ignored else None,  # as a shell starts a background job
    )
    children: list[int] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line or line.startswith("Press Ctrl-C"):
                break
        children = children_of(demo.pid)
        assert len(children) >= 2, children  # the gateway, the vehicle cloud and the demo partners
        demo.send_signal(signum)
        assert demo.wait(timeout=90) == 0
        output = demo.stdout.read()
        assert f"stopping ({signum.name})" in output, output
        assert [pid for pid in children if alive(pid)] == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
