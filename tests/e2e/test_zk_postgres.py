"""Wallet-answered questions on PostgreSQL with two gateway processes (issue 15, "counted in the database across
workers"): the relay tables and the question budget hold across workers, not just on SQLite.

Two `consentry serve` processes share one freshly created PostgreSQL database, one data directory (keys) and one
ledger origin. The test signs and anchors li.wei's statements at the first gateway; her wallet process polls the
second. The dealership asks at the first and gets the wallet's proof relayed through the second; the finance
partner's second distinct template is refused at the second after its first was asked at the first; each
question and answer is one ledger entry, whichever process saw what.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from gateway.demo.registry import DEMO_UPSTREAMS_PATH
from gateway.demo.statements import ATTRIBUTES
from ledger import generate_signer_key, parse_envelope
from ledger.b64 import b64encode
from ledger.store import Ledger
from tests.conftest import _postgres_admin_url
from tests.e2e.conftest import CONSENTRY, Gateway, _stop
from tests.e2e.test_proxy import start_serve
from tests.e2e.test_zk_wallet import (
    CATALYST,
    DEALER,
    FINANCE,
    FINANCE_PURPOSE,
    INCOME_ABOVE,
    INCOME_BAND,
    SERVICE,
    SUBJECT,
    question,
)
from tests.e2e.zk_holder import enrol_holder, grant
from zkp import HeldStatement, Question, TrustAnchors, issue_statement, new_subject_salt, verify_full_answer
from zkp.encoding import b64url_encode

pytestmark = pytest.mark.postgres

SOURCE = "vehicle-cloud.consentry.test"
SCHEMAS = {schema.name: schema for schema in ATTRIBUTES}
VALUES: dict[str, Any] = {"fault_code": ["P0301", "P0420"], "annual_income_cents": 42_000_000}


class Pair:
    """The two gateway processes, li.wei's wallet directory and the environment their commands run in."""

    def __init__(self, first: Gateway, second: Gateway, tmp: Path, environment: dict[str, str]) -> None:
        self.first, self.second, self.tmp, self.environment = first, second, tmp, environment
        self.wallet_dir = tmp / "li.wei-wallet"
        self.wallet_process: subprocess.Popen[bytes] | None = None

    def wallet(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONSENTRY, "wallet", "--dir", str(self.wallet_dir), *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ask(self, gateway: Gateway, client_id: str, asked: dict[str, Any], wait: int = 30) -> Any:
        with gateway.client(headers={"Authorization": f"Bearer {gateway.token(client_id)}"}) as http:
            return http.post("/v1/zk/questions", json={"question": asked, "wait": wait}, timeout=wait + 30)


def _anchor(gateway: Gateway, held: HeldStatement) -> None:
    body = {"statement": held.signed.to_json(), "subject": SUBJECT, "subject_salt": b64url_encode(held.subject_salt)}
    with gateway.client() as http:
        response = http.post("/v1/zk/statements", json=body)
    assert response.status_code == 201, response.text


@contextmanager
def _database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module (the `postgres_url` fixture is per test), dropped after."""
    admin_url = make_url(_postgres_admin_url())  # skips without CONSENTRY_TEST_POSTGRES_URL
    name = f"consentry_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("zk-postgres")
    signer, verifier = generate_signer_key(SOURCE)
    with _database() as database_url:
        shared = {
            "CONSENTRY_DATABASE_URL": database_url,
            "CONSENTRY_LEDGER_ORIGIN": "gateway.consentry.test/ledger",  # one deployment's ledger, two processes
            "CONSENTRY_ZK_SOURCE_KEYS": json.dumps([verifier]),
        }
        first = start_serve(tmp, tmp / "data", DEMO_UPSTREAMS_PATH, **shared)
        second: Gateway | None = None
        world: Pair | None = None
        try:
            second = start_serve(tmp, tmp / "data", DEMO_UPSTREAMS_PATH, **shared)
            world = Pair(first, second, tmp, {**os.environ, "CONSENTRY_DATA_DIR": str(tmp / "data"), **shared})
            _enrol(world, signer)
            yield world
        finally:
            if world is not None and world.wallet_process is not None:
                world.wallet_process.terminate()
                world.wallet_process.wait(timeout=30)
            if second is not None:
                _stop(second)
            _stop(first)


def _enrol(pair: Pair, signer: str) -> None:
    """Clients, li.wei with her wallet's DID and her consents, the signed statements, her standing rules."""
    pair.first.register(DEALER, ["crm"], ["zk"], organization="dealer-sh-4s", allowed_purposes=[SERVICE])
    pair.first.register(FINANCE, ["crm"], ["zk"], organization="acme-finance", allowed_purposes=[FINANCE_PURPOSE])
    pair.second.secrets.update(pair.first.secrets)
    made = pair.wallet("init")
    assert made.returncode == 0, made.stderr
    customer_id = enrol_holder(pair.first.database_url, SUBJECT, made.stdout.strip())
    grant(pair.environment, customer_id, "dealer-sh-4s", SERVICE, "vehicle.fault_codes")
    grant(pair.environment, customer_id, "acme-finance", FINANCE_PURPOSE, "financial.income")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    salt = new_subject_salt()
    for name, value in VALUES.items():
        held = issue_statement(
            signer,
            attribute=SCHEMAS[name],
            schema_version=1,
            subject=SUBJECT,
            subject_salt=salt,
            value=value,
            seq=1,
            issued_at=start,
            valid_until=start + timedelta(hours=1),
        )
        _anchor(pair.first, held)
        path = pair.tmp / f"{name}.json"
        path.write_text(json.dumps(held.to_json()))
        imported = pair.wallet("import", str(path))
        assert imported.returncode == 0, imported.stderr
    for recipient, template in (("dealer-sh-4s", CATALYST["id"]), ("acme-finance", INCOME_BAND["id"])):
        added = pair.wallet("rule", "add", "--recipient", f"org:{recipient}", "--template", template)
        assert added.returncode == 0, added.stderr
    log = (pair.tmp / "wallet.log").open("ab")
    command = [CONSENTRY, "wallet", "--dir", str(pair.wallet_dir), "run", "--gateway", pair.second.base_url]
    pair.wallet_process = subprocess.Popen(
        [*command, "--wait", "5", "--no-ask"], env=pair.environment, stdout=log, stderr=subprocess.STDOUT
    )


def _question_entries(pair: Pair, nonce: str) -> list[dict[str, Any]]:
    """The ledger's `zk.query` entries for the question with this nonce (each a payload)."""
    digest = b64encode(hashlib.sha256(nonce.encode()).digest())
    found = []
    with Ledger.open(pair.first.database_url, create=False) as ledger:
        for index, entry in enumerate(ledger.entries(0, ledger.size())):
            if parse_envelope(entry)["type"] != "zk.query":
                continue
            payload = ledger.payload(index)
            if payload is not None and payload.get("nonce_sha256") == digest:
                found.append(dict(payload))
    return found


def _trust(gateway: Gateway) -> TrustAnchors:
    with gateway.client() as http:
        keys = http.get("/v1/zk/trust").json()
    return TrustAnchors(tuple(keys["log_keys"]), tuple(keys["time_keys"]), tuple(keys["source_keys"]))


def test_a_question_asked_at_one_process_reaches_the_wallet_polling_the_other_and_is_ledgered_once(
    pair: Pair,
) -> None:
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    response = pair.ask(pair.first, DEALER, asked)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "answered" and body["holds"] is True
    # the answer the second process verified and relayed verifies with either process's public keys
    for gateway in (pair.first, pair.second):
        verified = verify_full_answer(body["answer"], _trust(gateway), question=Question.from_json(asked))
        assert verified.holds is True
    with pair.second.client(headers={"Authorization": f"Bearer {pair.second.token(DEALER)}"}) as http:
        polled = http.get(f"/v1/zk/questions/{body['question_id']}")  # the outcome, through the other process
    assert polled.status_code == 200 and polled.json()["ledger_index"] == body["ledger_index"]
    entries = _question_entries(pair, asked["nonce"])
    assert [(e["outcome"], e["holds"]) for e in entries] == [("answered", True)], entries


def test_the_question_budget_is_counted_across_processes(pair: Pair) -> None:
    band = question(INCOME_BAND, "acme-finance", FINANCE_PURPOSE)
    first = pair.ask(pair.first, FINANCE, band)
    assert first.status_code == 200, first.text
    assert first.json()["holds"] is True
    narrower = question(INCOME_ABOVE, "acme-finance", FINANCE_PURPOSE)
    refused = pair.ask(pair.second, FINANCE, narrower)  # the other process: only the database knows
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/question-budget-exhausted")
    again = pair.ask(pair.second, FINANCE, question(INCOME_BAND, "acme-finance", FINANCE_PURPOSE))
    assert again.status_code == 200, again.text  # the template already asked spends nothing, on either process
    assert [e["outcome"] for e in _question_entries(pair, band["nonce"])] == ["answered"]
    refusals = _question_entries(pair, narrower["nonce"])
    assert [(e["outcome"], e["reason"]) for e in refusals] == [("refused", "question_budget_exhausted")]
    assert problem["ledger_index"] is not None
