"""The wallet's directory and its command line, as the customer uses them: a real `python -m wallet` process
initialises the wallet, takes a delivered statement, adds a standing rule and answers the gateway's question."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.wallet.fake_servers import FakeGateway
from tests.zkp.statement_world import CATALYST, FAULT_CODES, World
from wallet import PendingQuestion, Recipient, WalletStore, WalletStoreError
from wallet.store import KEY_FILE
from zkp import Question


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _wallet(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallet", "--dir", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_and_openings_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    world = World()
    store = WalletStore.init(tmp_path / "w")
    store.add_statement(world.issue(FAULT_CODES, "cust-1001", ["P0420"]))
    assert _mode(tmp_path / "w") == 0o700
    files = [p for p in (tmp_path / "w").rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o600 for p in files)
    assert store.key.did.startswith("did:key:z6Mk")
    with pytest.raises(WalletStoreError, match="already holds a wallet"):
        WalletStore.init(tmp_path / "w")
    os.chmod(tmp_path / "w" / KEY_FILE, 0o644)
    with pytest.raises(WalletStoreError, match="chmod 600"):
        _ = store.key
    with pytest.raises(WalletStoreError, match="not a wallet"):
        WalletStore(tmp_path / "nothing")


def test_a_wallet_process_answers_the_question_addressed_to_its_customer(tmp_path: Path) -> None:
    world = World()
    directory = tmp_path / "li.wei"
    created = _wallet(directory, "init")
    assert created.returncode == 0, created.stderr
    did = created.stdout.strip()

    now = datetime.now(UTC).replace(microsecond=0)
    held = world.issue(
        FAULT_CODES,
        "cust-1001",
        ["P0301", "P0420"],
        issued_at=now - timedelta(hours=1),
        valid_until=now + timedelta(hours=1),
    )
    delivery = tmp_path / "delivery.json"
    delivery.write_text(json.dumps(held.to_json()))
    assert _wallet(directory, "import", str(delivery)).returncode == 0
    added = _wallet(directory, "rule", "add", "--recipient", "org:dealer-4s", "--template", CATALYST.id)
    assert added.returncode == 0, added.stderr
    assert "org:dealer-4s" in _wallet(directory, "rule", "list").stdout

    with FakeGateway(world, did) as gateway:
        question = Question(
            CATALYST,
            "cust-1001",
            "org:dealer-4s",
            "service_delivery",
            secrets.token_urlsafe(18),
            now,
            now + timedelta(minutes=5),
        )
        pending = PendingQuestion("q-1", question, Recipient("org:dealer-4s", "4S Dealership"))
        gateway.ask(pending)
        ran = _wallet(directory, "run", "--gateway", gateway.url, "--once", "--wait", "5", "--no-ask")
        assert ran.returncode == 0, ran.stderr
        assert "q-1: answered (yes, proven)" in ran.stdout
        assert gateway.verified["q-1"].holds is True

    journal = _wallet(directory, "journal")
    assert json.loads(journal.stdout.splitlines()[-1])["result"] == "answered"


def test_bad_input_exits_2_and_a_refusal_exits_1(tmp_path: Path) -> None:
    missing = _wallet(tmp_path / "none", "did")
    assert missing.returncode == 2 and "run `wallet init` first" in missing.stderr
    directory = tmp_path / "w"
    assert _wallet(directory, "init").returncode == 0
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    bad = _wallet(directory, "import", str(junk))
    assert bad.returncode == 2 and "not a delivered statement" in bad.stderr and "Traceback" not in bad.stderr
    with FakeGateway(World(), "did:key:z6MkStranger") as gateway:
        refused = _wallet(directory, "run", "--gateway", gateway.url, "--once", "--wait", "0")
    assert refused.returncode == 1 and "unknown-did" not in refused.stdout and "401" in refused.stderr
