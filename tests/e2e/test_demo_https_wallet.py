"""`consentry demo --https`, issue 15: the vehicle cloud anchors its signed statements at the https gateway,
trusting it by the demo's self-signed certificate (given explicitly, verification on), and li.wei's wallet
answers. The printed commands run as printed, with the two variables the demo tells the user to export."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy import text

from gateway.demo.stack import DemoStack
from gateway.store.database import create_db_engine
from tests.e2e.conftest import _free_port


def test_the_https_demo_anchors_statements_and_the_wallet_answers(tmp_path: Path) -> None:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port(), https=True) as stack:
        assert stack.url.startswith("https://") and stack.certificate is not None
        trusted = {**os.environ, "CURL_CA_BUNDLE": str(stack.certificate), "SSL_CERT_FILE": str(stack.certificate)}

        def run(command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, env=trusted)

        bind, fetch, rules, start, dealer, verify, *_, stop, _ = stack.wallet_steps()
        bound = run(bind.command)
        assert bound.returncode == 0, bound.stderr
        fetched = run(fetch.command)  # the vehicle cloud anchors at the https gateway before it delivers
        assert fetched.returncode == 0, fetched.stderr
        assert "fault_code from vehicle-cloud.consentry.demo" in fetched.stdout
        engine = create_db_engine(f"sqlite:///{stack.data_dir / 'consentry.db'}")
        try:
            with engine.connect() as conn:
                anchored = conn.execute(text("SELECT count(*) FROM gw_zk_statements")).scalar_one()
        finally:
            engine.dispose()
        assert anchored >= 4
        assert run(rules.command).returncode == 0
        assert run(start.command).returncode == 0
        try:
            answered = json.loads(run(dealer.command).stdout)
            assert answered["status"] == "answered" and answered["holds"] is True, answered
            checked = run(verify.command)
            assert checked.returncode == 0, checked.stderr
            assert "is TRUE for cust-1001" in checked.stdout
        finally:
            assert run(stop.command).returncode == 0
