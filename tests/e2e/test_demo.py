"""`consentry demo`: the printed commands do what they say, run for real with bash, curl and jq against the
running stack (issue 4, "The demo": dealership sees VIN and fault codes but not the national ID; the
customer sees who accessed, withdraws marketing consent through the customer API and the marketing client
is refused; the auditor verifies)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
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

        statistic = json.loads(run(steps[7].command).stdout)
        assert [g["group"] for g in statistic["groups"]] == ["Aurora", "Breeze", "Comet"], statistic
        assert statistic["epsilon"] <= 2 and statistic["budget"]["epsilon_spent"] == statistic["epsilon"]
        median = json.loads(run(steps[8].command).stdout)
        assert median["quantile"] == 0.5 and 0 <= median["groups"][0]["result"]["value"] <= 300_000
        mine = json.loads(run(steps[9].command).stdout)["analyses"]
        assert [a["query_id"] for a in mine] == [median["query_id"]]

        profile = json.loads(run(steps[10].command).stdout)
        assert set(profile["sources"]) == {"vehicle-cloud", "billing", "insurer"}, profile
        assert profile["profile"]["vehicle-cloud"]["vehicle"]["vin"] == "LSVAU2180N2183294"

        # the withdrawal of step 4 reached the agency signed, and it confirmed deleting
        deadline = time.monotonic() + 60
        while not json.loads(run(steps[11].command).stdout)["confirmed"] and time.monotonic() < deadline:
            time.sleep(0.2)
        delivered = json.loads(run(steps[11].command).stdout)
        assert [a["type"] for a in delivered["arrivals"]] == ["consent.withdrawn"] and delivered["rejected"] == 0
        told = json.loads(run(steps[12].command).stdout)
        assert told[0]["recipients"][0]["confirmation"] == "deleted", told

        minor = json.loads(run(steps[13].command).stdout)
        assert minor["type"].endswith("/guardian-consent-required") and "Wang Jun" in minor["detail"], minor
        assert json.loads(run(steps[14].command).stdout)["data"]["phone"] == "+1 415 555 0105"
        choices = json.loads(run(steps[15].command).stdout)
        assert choices["do_not_sell_or_share"]["method"] == "gpc", choices
        refused_sale = json.loads(run(steps[16].command).stdout)
        assert "opt_out_of_sale" in refused_sale["withheld"]["contact.phone"], refused_sale


def test_a_directory_the_demo_did_not_make_is_never_wiped(tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "keep.txt").write_text("mine")
    with pytest.raises(DemoDirectoryError):
        DemoStack(tmp_path / "precious", port=_free_port(), upstream_port=_free_port()).start()
    assert (tmp_path / "precious" / "keep.txt").read_text() == "mine"


def test_consentry_demo_prints_a_working_portal_url_and_customer_logins(tmp_path: Path) -> None:
    """Issue 7, "Done when": `make demo` prints the portal URL and demo customer logins — and they work."""
    consentry = Path(sys.executable).with_name("consentry")
    command = [str(consentry), "demo", "--data-dir", str(tmp_path / "demo")]
    command += ["--port", str(_free_port()), "--upstream-port", str(_free_port())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Press Ctrl-C")):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        printed = "\n".join(lines)
        portal = re.search(r"^Consent portal\s+(\S+)", printed, re.M)
        login = re.search(r"^\s+cust-1001\s+(\S+)\s+password (\S+)$", printed, re.M)
        assert portal and login, printed
        with httpx.Client(timeout=10) as http:
            page = http.get(portal.group(1), follow_redirects=True)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            base = portal.group(1).removesuffix("/portal/")
            signed_in = http.post(f"{base}/v1/session", json={"username": login[1], "password": login[2]})
            assert signed_in.status_code in (200, 201), signed_in.text
            assert http.get(f"{base}/v1/me").json()["username"] == login[1]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
