"""`consentry demo`, issue 15: the printed commands bind Li Wei's wallet to her account and start it, the
dealership gets a proven "yes", anyone verifies it with public keys, a second income threshold is refused and,
with the wallet stopped, the next question gets "customer unavailable". Run for real with bash, curl and jq
against the running stack."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import text

from benchmarks import zk
from gateway.demo.stack import DemoStack
from gateway.store.database import create_db_engine
from tests.e2e.conftest import _free_port
from wallet import WalletStore


def run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)


def test_the_printed_wallet_story_runs(tmp_path: Path) -> None:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port()) as stack:
        bind, fetch, rules, start, dealer, verify, income, second, stop, again = stack.wallet_steps()
        try:
            bound = run(bind.command)
            assert bound.returncode == 0, bound.stderr
            assert json.loads(bound.stdout)["did"] == WalletStore(stack.wallet_dir).key.did
            fetched = run(fetch.command)
            assert fetched.returncode == 0, fetched.stderr
            assert "fault_code from vehicle-cloud.consentry.demo" in fetched.stdout
            assert run(rules.command).returncode == 0
            assert run(start.command).returncode == 0

            answered = json.loads(run(dealer.command).stdout)
            assert answered["status"] == "answered" and answered["holds"] is True, answered
            checked = run(verify.command)
            assert checked.returncode == 0, checked.stderr
            assert "is TRUE for cust-1001" in checked.stdout

            assert json.loads(run(income.command).stdout)["holds"] is True
            refused = json.loads(run(second.command).stdout)
            assert refused["type"].endswith("/question-budget-exhausted"), refused
        finally:
            assert run(stop.command).returncode == 0
        unavailable = json.loads(run(again.command).stdout)
        assert unavailable["type"].endswith("/customer-unavailable"), unavailable

        engine = create_db_engine(f"sqlite:///{stack.data_dir / 'consentry.db'}")
        try:
            with engine.connect() as conn:  # the gateway holds no opening for her
                assert conn.execute(text("SELECT count(*) FROM gw_zk_anchors")).scalar_one() == 0
        finally:
            engine.dispose()


def test_the_benchmarks_round_trip_is_a_relayed_verified_answer() -> None:
    """`consentry bench zk` times real round trips: each one a "yes" the wallet process proved."""
    figures = zk._end_to_end(1)
    assert figures["rounds"] == 1 and figures["p50_ms"] > 0
    assert figures["answer_with_evidence_bytes"] > 1000


def test_questions_reach_the_wallet_and_answers_the_dealer_across_two_workers(tmp_path: Path) -> None:
    """With `serve --workers 2` the wallet's poll and the dealership's question may land on different workers:
    the waiters re-read the database, so every question is still answered."""
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port(), workers=2) as stack:
        bind, fetch, rules, start, dealer, *_, stop, _ = stack.wallet_steps()
        assert run(bind.command).returncode == 0
        assert run(fetch.command).returncode == 0
        assert run(rules.command).returncode == 0
        assert run(start.command).returncode == 0
        try:
            for _ in range(4):
                answered = json.loads(run(dealer.command).stdout)
                assert answered["status"] == "answered" and answered["holds"] is True, answered
        finally:
            assert run(stop.command).returncode == 0
