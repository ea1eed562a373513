"""`consentry demo`: the printed commands do what they say, run for real with bash, curl and jq against the
running stack (issue 4, "The demo": dealership sees VIN and fault codes but not the national ID; the
customer sees who accessed, withdraws marketing consent through the customer API and the marketing client
is refused; the auditor verifies)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gateway.demo.stack import DemoDirectoryError, DemoStack
from tests.e2e.conftest import _free_port


def run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)


def test_the_printed_story_runs(tmp_path: Path) -> None:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port()) as stack:
        steps = stack.steps()
        dealer = json.loads(run(steps[0].command).stdout)
        assert dealer["data"]["vehicle"]["vin"] == "LSVAU2180N2183294"
        assert dealer["data"]["vehicle"]["fault_codes"] == ["P0301", "P0420"]
        assert dealer["withheld"]["identity.national_id"] == ["matrix_deny"]
        assert "national_id" not in dealer["data"]

        assert "phone" in json.loads(run(steps[1].command).stdout)["data"]
        accesses = run(steps[2].command).stdout
        assert "dealer-sh-4s" in accesses and "bright-marketing" in accesses
        withdrawn = run(steps[3].command)
        assert withdrawn.returncode == 0 and '"withdrawn"' in withdrawn.stdout, withdrawn.stdout + withdrawn.stderr
        refused = json.loads(run(steps[4].command).stdout)
        assert refused["type"].endswith("/access-refused")
        assert "consent_withdrawn" in refused["withheld"]["contact.phone"]

        assert json.loads(run(steps[5].command).stdout)["points_accrued"] == 5
        audit = run(steps[6].command)
        assert audit.returncode == 0, audit.stderr
        assert "verifies" in audit.stdout
        assert [name for _, name, _ in stack.accounts()][:1] == ["li.wei"]


def test_a_directory_the_demo_did_not_make_is_never_wiped(tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "keep.txt").write_text("mine")
    with pytest.raises(DemoDirectoryError):
        DemoStack(tmp_path / "precious", port=_free_port(), upstream_port=_free_port()).start()
    assert (tmp_path / "precious" / "keep.txt").read_text() == "mine"
