"""The customer's device answers (issue 15, "Done when"): real processes over real HTTP.

A gateway (`consentry serve`), the vehicle cloud as a signing source (uvicorn on a free port) and li.wei's
wallet (`consentry wallet … run`, its own process). The vehicle cloud signs statements about her, anchors them
at the gateway and delivers them, openings included, to her wallet after DID sign-in. The dealership asks a
declared question and gets the wallet's proven "yes", which it verifies with public material only; the gateway's
database never holds her opening; with the wallet stopped the next question is "customer unavailable"; the
finance client's second income threshold is refused; forged answers fail the public verifier.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway.demo import BackgroundServer
from gateway.store.database import create_db_engine
from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, serve_on
from tests.e2e.zk_holder import enrol_holder, grant, statement_cloud
from wallet import DidSession, WalletStore
from zkp import AnswerRejected, Question, TrustAnchors, verify_full_answer

SUBJECT = "cust-1001"  # li.wei: fault codes P0301 and P0420, income 420000.00 CNY
DEALER, FINANCE, RND = "dealer-pudong", "finance-crm", "rnd-partner"
SERVICE, FINANCE_PURPOSE = "service_delivery", "financial_product_recommendation"
CATALYST = {
    "id": "catalyst-or-misfire",
    "attribute": "fault_code",
    "predicate": {"op": "in", "operands": ["P0420", "P0300"]},
}
INCOME_BAND = {
    "id": "income-band",
    "attribute": "annual_income_cents",
    "predicate": {"op": "within", "operands": [30000000, 100000000]},
}
INCOME_ABOVE = {
    "id": "income-above-500k",
    "attribute": "annual_income_cents",
    "predicate": {"op": ">=", "operands": [50000000]},
}


@dataclass
class World:
    gateway: Gateway
    cloud: BackgroundServer
    environment: dict[str, str]
    wallet_dir: Path
    tmp: Path
    wallet_process: subprocess.Popen[bytes] | None = None

    def http(self, client_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.gateway.token(client_id)}"} if client_id else {}
        return self.gateway.client(headers=headers)

    def wallet(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONSENTRY, "wallet", "--dir", str(self.wallet_dir), *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_wallet(self) -> None:
        log = (self.tmp / "wallet.log").open("ab")
        command = [CONSENTRY, "wallet", "--dir", str(self.wallet_dir), "run", "--gateway", self.gateway.base_url]
        self.wallet_process = subprocess.Popen(
            [*command, "--wait", "5", "--no-ask"], env=self.environment, stdout=log, stderr=subprocess.STDOUT
        )

    def stop_wallet(self) -> None:
        process, self.wallet_process = self.wallet_process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def question(template: dict[str, Any], organization: str, purpose: str, *, minutes: int = 2) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "template": template,
        "subject": SUBJECT,
        "audience": f"org:{organization}",
        "purpose": purpose,
        "nonce": secrets.token_urlsafe(18),
        "asked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def ask(world: World, client_id: str, asked: dict[str, Any], wait: int = 30) -> httpx.Response:
    with world.http(client_id) as http:
        return http.post("/v1/zk/questions", json={"question": asked, "wait": wait}, timeout=wait + 30)


def trust(world: World) -> TrustAnchors:
    with world.gateway.client() as http:  # no credentials: the keys are public
        keys = http.get("/v1/zk/trust").json()
    return TrustAnchors(tuple(keys["log_keys"]), tuple(keys["time_keys"]), tuple(keys["source_keys"]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("zk-wallet")
    port = _free_port()
    source, cloud, upstreams = statement_cloud(tmp, port)
    try:
        gateway, environment = serve_on(
            tmp,
            port,
            CONSENTRY_UPSTREAMS_PATH=str(upstreams),
            CONSENTRY_ZK_SOURCE_KEYS=json.dumps([source.verifier_key]),
        )
    except BaseException:
        cloud.stop()
        raise
    world = World(gateway, cloud, environment, tmp / "li.wei-wallet", tmp)
    try:
        gateway.register(DEALER, ["crm"], ["zk"], organization="dealer-sh-4s", allowed_purposes=[SERVICE])
        gateway.register(FINANCE, ["crm"], ["zk"], organization="acme-finance", allowed_purposes=[FINANCE_PURPOSE])
        gateway.register(RND, ["crm"], ["proxy"], organization="stuttgart-rnd", allowed_purposes=["joint_rnd"])
        # li.wei installs her wallet; the operator enrols her with its DID; the vehicle cloud learns it too.
        initialised = world.wallet("init")
        assert initialised.returncode == 0, initialised.stderr
        did = initialised.stdout.strip()
        customer_id = enrol_holder(gateway.database_url, SUBJECT, did)
        assert httpx.put(f"{cloud.url}/customers/{SUBJECT}/wallet", json={"did": did}).status_code == 204
        grant(environment, customer_id, "dealer-sh-4s", SERVICE, "vehicle.fault_codes")
        grant(environment, customer_id, "acme-finance", FINANCE_PURPOSE, "financial.income")
        fetched = world.wallet("fetch", "--source", cloud.url, "--source-key", source.verifier_key)
        assert fetched.returncode == 0, fetched.stderr
        for recipient, template in (
            ("dealer-sh-4s", "catalyst-or-misfire"),
            ("acme-finance", "income-band"),
            ("acme-finance", "income-above-500k"),
        ):
            added = world.wallet("rule", "add", "--recipient", f"org:{recipient}", "--template", template)
            assert added.returncode == 0, added.stderr
        world.start_wallet()
        yield world
    finally:
        world.stop_wallet()
        _stop(gateway)
        cloud.stop()


def test_the_dealer_gets_a_yes_proven_by_the_wallet_and_verifies_it_with_public_keys(world: World) -> None:
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    response = ask(world, DEALER, asked)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "answered" and body["holds"] is True
    verified = verify_full_answer(
        body["answer"], trust(world), question=Question.from_json(asked), now=datetime.now(UTC)
    )
    assert verified.holds is True
    assert verified.source == "vehicle-cloud.consentry.demo"
    summary = body["statement"]
    assert (summary["source"], summary["attribute"], summary["schema_version"]) == (verified.source, "fault_code", 1)
    assert summary["valid_until"] == verified.to_json()["valid_until"]
    # evidence names no client and no internal customer id
    assert DEALER not in json.dumps(body["answer"]) and "customer" not in json.dumps(body["answer"]["evidence"])
    journal = world.wallet("journal")
    assert '"result": "answered"' in journal.stdout
    # and the command line says the same with only the public keys the unauthenticated route serves
    checked = verify_cli(world, body, asked)
    assert checked.returncode == 0, checked.stderr
    assert "valid: catalyst-or-misfire (fault_code in P0420, P0300) is TRUE for cust-1001" in checked.stdout


def verify_cli(world: World, document: dict[str, Any], asked: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    with world.gateway.client() as http:
        (world.tmp / "trust.json").write_text(http.get("/v1/zk/trust").text)
    name = secrets.token_hex(4)
    (world.tmp / f"answer-{name}.json").write_text(json.dumps(document))
    (world.tmp / f"question-{name}.json").write_text(json.dumps(asked))
    files = [str(world.tmp / f"answer-{name}.json"), "--question", str(world.tmp / f"question-{name}.json")]
    return subprocess.run(
        [CONSENTRY, "zk", "verify-answer", *files, "--trust", str(world.tmp / "trust.json")],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(world.tmp)},  # nothing of the gateway's
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_gateways_database_holds_no_opening_for_her(world: World) -> None:
    store = WalletStore(world.wallet_dir)
    held = list(store.statements())
    assert {h.statement.attribute.name for h in held} >= {"fault_code", "annual_income_cents"}
    database = (world.gateway.data_dir / "consentry.db").read_bytes()
    for statement in held:
        opening = statement.to_json()["opening"]
        for secret in json.dumps(opening).replace('"', " ").replace(",", " ").split():
            if len(secret) >= 40:  # the blinding factors: long base64url strings
                assert secret.encode() not in database
    engine = create_db_engine(world.gateway.database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM gw_zk_anchors")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_second_income_threshold_is_refused_and_the_refusal_is_ledgered(world: World) -> None:
    first = ask(world, FINANCE, question(INCOME_BAND, "acme-finance", FINANCE_PURPOSE))
    assert first.status_code == 200, first.text
    assert first.json()["holds"] is True
    again = ask(world, FINANCE, question(INCOME_BAND, "acme-finance", FINANCE_PURPOSE))
    assert again.status_code == 200, again.text  # the same template again spends nothing: its answer cannot differ
    second = ask(world, FINANCE, question(INCOME_ABOVE, "acme-finance", FINANCE_PURPOSE))
    assert second.status_code == 403, second.text
    problem = second.json()
    assert problem["type"].endswith("/question-budget-exhausted")
    assert isinstance(problem["ledger_index"], int)


def test_a_threshold_the_template_does_not_declare_is_refused(world: World) -> None:
    altered = dict(INCOME_BAND, predicate={"op": "within", "operands": [30000000, 40000000]})
    response = ask(world, FINANCE, question(altered, "acme-finance", FINANCE_PURPOSE))
    assert response.status_code == 422
    assert response.json()["type"].endswith("/template-altered")
    undeclared = ask(world, DEALER, question(INCOME_BAND, "dealer-sh-4s", SERVICE))
    assert undeclared.status_code == 403
    assert undeclared.json()["type"].endswith("/template-not-declared")


def _forged(document: dict[str, Any], change: str) -> dict[str, Any]:
    forged: dict[str, Any] = json.loads(json.dumps(document))
    if change == "subject-prefix-stripped":
        forged["answer"]["question"]["subject"] = SUBJECT.removeprefix("cust-")
    elif change == "unsigned-commitment":
        signature = forged["answer"]["statement"]["signature"]
        forged["answer"]["statement"]["signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    elif change == "moved-to-another-question":
        forged["answer"]["question"]["nonce"] = secrets.token_urlsafe(18)
    return forged


@pytest.mark.parametrize("change", ["subject-prefix-stripped", "unsigned-commitment", "moved-to-another-question"])
def test_forged_answers_fail_the_public_verifier(world: World, change: str) -> None:
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    response = ask(world, DEALER, asked)
    assert response.status_code == 200, response.text
    document = response.json()["answer"]
    forged = _forged(document, change)
    claimed = Question.from_json(forged["answer"]["question"])
    with pytest.raises(AnswerRejected):
        verify_full_answer(forged, trust(world), question=claimed, now=datetime.now(UTC))
    refused = verify_cli(world, forged, forged["answer"]["question"])
    assert refused.returncode == 1, refused.stdout
    assert "invalid answer" in refused.stderr and "Traceback" not in refused.stderr


def test_an_answer_past_its_statement_or_question_is_rejected(world: World) -> None:
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    response = ask(world, DEALER, asked)
    assert response.status_code == 200, response.text
    document = response.json()["answer"]
    valid_until = datetime.fromisoformat(document["answer"]["statement"]["statement"]["valid_until"])
    with pytest.raises(AnswerRejected) as rejected:
        verify_full_answer(document, trust(world), question=Question.from_json(asked), now=valid_until)
    assert rejected.value.reason == "expired"


def test_with_the_wallet_stopped_the_next_question_gets_customer_unavailable(world: World) -> None:
    world.stop_wallet()
    try:
        response = ask(world, DEALER, question(CATALYST, "dealer-sh-4s", SERVICE), wait=2)
        assert response.status_code == 504, response.text
        problem = response.json()
        assert problem["type"].endswith("/customer-unavailable")
        assert "holds" not in problem
        with world.http(DEALER) as http:
            later = http.get(problem["poll"])
        assert later.status_code == 504
    finally:
        world.start_wallet()


def read_driving(world: World) -> dict[str, Any]:
    with world.http(RND) as http:
        response = http.get(f"/v1/proxy/vehicle-cloud/customers/{SUBJECT}", headers={"Consentry-Purpose": "joint_rnd"})
    assert response.status_code in (200, 403), response.text
    body: dict[str, Any] = response.json()
    return body


def wallet_grant(world: World, hours: str) -> dict[str, Any]:
    granted = world.wallet(
        "grant",
        "--gateway",
        world.gateway.base_url,
        "--recipient",
        "org:stuttgart-rnd",
        "--category",
        "behavior.driving",
        "--purpose",
        "joint_rnd",
        "--hours",
        hours,
    )
    assert granted.returncode == 0, granted.stderr
    recorded: dict[str, Any] = json.loads(granted.stdout)
    return recorded


def test_a_wallet_signed_grant_lets_rnd_read_driving_behaviour_until_it_lapses(world: World) -> None:
    assert "driving" not in read_driving(world).get("data", {})
    recorded = wallet_grant(world, "2")
    assert recorded["record"]["recipients"] == ["org:stuttgart-rnd"] and recorded["action"] == "given"
    until = datetime.fromisoformat(recorded["record"]["valid_until"])
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)
    receipt = recorded["receipt"]
    assert receipt["credentialSubject"]["id"] == WalletStore(world.wallet_dir).key.did
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        assert ledger.payload(recorded["ledger_index"]) is not None
    assert "driving" in read_driving(world)["data"]

    # A grant that ends in a few seconds replaces it; once it has ended the read is refused, with nothing done.
    short = wallet_grant(world, "0.002")
    ends = datetime.fromisoformat(short["record"]["valid_until"])
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 1)
    assert "driving" not in read_driving(world).get("data", {})


def test_custodial_answering_is_off_by_default_and_answers_only_once_she_switches_it_on(world: World) -> None:
    def portal_mode() -> str:
        with DidSession(world.gateway.base_url, WalletStore(world.wallet_dir).key) as session:
            page = session.request("GET", "/portal/account")
        assert page.status_code == 200, page.text
        found = re.search(r'data-answering="(\w+)"', page.text)
        assert found is not None
        return found.group(1)

    with DidSession(world.gateway.base_url, WalletStore(world.wallet_dir).key) as session:
        default = session.request("GET", "/v1/me/wallet/custody").json()
    assert default == {"mode": "wallet", "statements": 0, "rules": []}
    assert portal_mode() == "wallet"  # the portal says which mode is active
    world.stop_wallet()
    try:
        switched = world.wallet("custody", "on", "--gateway", world.gateway.base_url)
        assert switched.returncode == 0, switched.stderr
        state = json.loads(switched.stdout)
        assert state["mode"] == "custodial" and state["statements"] >= 4
        assert portal_mode() == "custodial"
        answered = ask(world, DEALER, question(CATALYST, "dealer-sh-4s", SERVICE), wait=10)
        assert answered.status_code == 200, answered.text  # her wallet is stopped: the gateway answered for her
        assert answered.json()["holds"] is True

        off = world.wallet("custody", "off", "--gateway", world.gateway.base_url)
        assert off.returncode == 0, off.stderr
        assert json.loads(off.stdout) == {"mode": "wallet", "statements": 0, "rules": state["rules"]}
        unanswered = ask(world, DEALER, question(CATALYST, "dealer-sh-4s", SERVICE), wait=2)
        assert unanswered.status_code == 504, unanswered.text
    finally:
        world.start_wallet()


def test_the_portal_switch_turns_custodial_answering_on_and_off(world: World) -> None:
    with DidSession(world.gateway.base_url, WalletStore(world.wallet_dir).key) as session:

        def switch(mode: str) -> str:
            page = session.request("GET", "/portal/account").text
            form = re.search(r'action="[^"]*/account/answering".*?name="([^"]+)" value="([^"]+)"', page, re.S)
            assert form is not None, page
            posted = session.request(
                "POST", "/portal/account/answering", data={form.group(1): form.group(2), "mode": mode}
            )
            assert posted.status_code in (302, 303), posted.text
            after = re.search(r'data-answering="(\w+)"', session.request("GET", "/portal/account").text)
            assert after is not None
            return after.group(1)

        assert switch("custodial") == "custodial"
        assert session.request("GET", "/v1/me/wallet/custody").json()["mode"] == "custodial"
        assert switch("wallet") == "wallet"
        state = session.request("GET", "/v1/me/wallet/custody").json()
        assert (state["mode"], state["statements"]) == ("wallet", 0)


def test_predicates_with_thresholds_of_the_callers_choosing_are_off_by_default(world: World) -> None:
    body = {
        "subject": SUBJECT,
        "attribute": "annual_income_cents",
        "predicate": {"op": ">=", "operands": [41_000_000]},
        "purpose": FINANCE_PURPOSE,
        "nonce": secrets.token_urlsafe(18),
    }
    with world.http(FINANCE) as http:
        response = http.post("/v1/zk/queries", json=body)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/threshold-queries-disabled")


def test_long_polls_held_at_once_for_one_customer_are_bounded(world: World) -> None:
    key = WalletStore(world.wallet_dir).key
    sessions = [DidSession(world.gateway.base_url, key, timeout=60) for _ in range(6)]
    try:
        for session in sessions:
            session.sign_in()
        with ThreadPoolExecutor(len(sessions)) as pool:
            futures = [
                # a cursor past every question: each poll is held for its whole wait, whatever is pending
                pool.submit(
                    session.request, "GET", "/v1/me/wallet/questions", params={"wait": 10, "after": "999999999"}
                )
                for session in sessions
            ]
            statuses = sorted(future.result().status_code for future in futures)
    finally:
        for session in sessions:
            session.close()
    assert 429 in statuses and set(statuses) <= {200, 429}, statuses


def test_she_declines_a_waiting_question_in_the_portal_and_the_dealer_learns_only_that(world: World) -> None:
    world.stop_wallet()
    try:
        asked = ask(world, DEALER, question(CATALYST, "dealer-sh-4s", SERVICE, minutes=3), wait=0)
        assert asked.status_code == 504, asked.text
        poll = asked.json()["poll"]
        with DidSession(world.gateway.base_url, WalletStore(world.wallet_dir).key) as session:
            page = session.request("GET", "/portal/account").text
            question_id = poll.rsplit("/", 1)[1]
            assert f'data-question="{question_id}"' in page
            form = re.search(
                rf'action="[^"]*/account/questions/{question_id}/decline">\s*<input type="hidden" name="([^"]+)" '
                r'value="([^"]+)"',
                page,
            )
            assert form is not None, page
            declined = session.request(
                "POST", f"/portal/account/questions/{question_id}/decline", data={form.group(1): form.group(2)}
            )
            assert declined.status_code in (302, 303), declined.text
            assert f'data-question="{question_id}"' not in session.request("GET", "/portal/account").text
        with world.http(DEALER) as http:
            outcome = http.get(poll)
        assert outcome.status_code == 403
        assert outcome.json()["type"].endswith("/customer-declined")
        assert outcome.json()["reason"] == "declined_by_customer"
    finally:
        world.start_wallet()
