"""A superseded statement, end to end (issue 15, "Done when": a superseded statement is rejected by the public
verifier): a gateway (`consentry serve`), the test as a signing source over HTTP, li.wei's wallet process.

The source anchors statement 1 (the catalyst code P0420 is set) with a short window; the wallet answers the
dealer's question over it. When that window ends the car has been repaired: the source anchors statement 2 of
the same series. The stored answer, shown with the evidence the gateway gives now, is rejected as `superseded`
by the library and by `consentry zk verify-answer` in an environment holding only `GET /v1/zk/trust`; shown
with the evidence it came with it still verifies; and the gateway refuses to relay a new answer over it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.demo.statements import ATTRIBUTES
from ledger import generate_signer_key
from tests.e2e.conftest import CONSENTRY, _free_port, _stop, serve_on
from tests.e2e.test_zk_wallet import CATALYST, DEALER, SERVICE, SUBJECT, World, ask, question, trust
from tests.e2e.zk_holder import enrol_holder, grant
from wallet import DidSession, WalletStore
from zkp import AnswerRejected, HeldStatement, Question, answer_question, issue_statement, new_subject_salt
from zkp import verify_full_answer as verify
from zkp.encoding import b64url_encode

SOURCE = "fleet-telematics.consentry.test"
FAULT_CODES = next(schema for schema in ATTRIBUTES if schema.name == "fault_code")
WINDOW = timedelta(seconds=30)  # statement 1's window: long enough to be answered over, short enough to wait out


@dataclass
class Source:
    """The test as the signing source: it signs, anchors over HTTP and delivers to the wallet as files."""

    signer: str
    verifier: str
    salt: bytes
    issued: dict[int, HeldStatement] = field(default_factory=dict)

    def issue(
        self, value: list[str], seq: int, start: datetime, end: datetime, previous: HeldStatement | None = None
    ) -> HeldStatement:
        self.issued[seq] = issue_statement(
            self.signer,
            attribute=FAULT_CODES,
            schema_version=1,
            subject=SUBJECT,
            subject_salt=self.salt,
            value=value,
            seq=seq,
            issued_at=start,
            valid_until=end,
            previous=None if previous is None else previous.statement,
        )
        return self.issued[seq]


def anchor(world: World, held: HeldStatement) -> None:
    body = {"statement": held.signed.to_json(), "subject": SUBJECT, "subject_salt": b64url_encode(held.subject_salt)}
    with world.gateway.client() as http:  # the statement's signature is the source's authentication
        response = http.post("/v1/zk/statements", json=body)
    assert response.status_code == 201, response.text


def deliver(world: World, held: HeldStatement) -> None:
    path = world.tmp / f"statement-{held.statement.seq}.json"
    path.write_text(json.dumps(held.to_json()))
    imported = world.wallet("import", str(path))
    assert imported.returncode == 0, imported.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Source]]:
    tmp = tmp_path_factory.mktemp("zk-supersession")
    port = _free_port()
    signer, verifier = generate_signer_key(SOURCE)
    gateway, environment = serve_on(tmp, port, CONSENTRY_ZK_SOURCE_KEYS=json.dumps([verifier]))
    world = World(gateway, None, environment, tmp / "li.wei-wallet", tmp)  # type: ignore[arg-type]
    try:
        gateway.register(DEALER, ["crm"], ["zk"], organization="dealer-sh-4s", allowed_purposes=[SERVICE])
        initialised = world.wallet("init")
        assert initialised.returncode == 0, initialised.stderr
        customer_id = enrol_holder(gateway.database_url, SUBJECT, initialised.stdout.strip())
        grant(environment, customer_id, "dealer-sh-4s", SERVICE, "vehicle.fault_codes")
        added = world.wallet("rule", "add", "--recipient", "org:dealer-sh-4s", "--template", CATALYST["id"])
        assert added.returncode == 0, added.stderr
        yield world, Source(signer, verifier, new_subject_salt())
    finally:
        world.stop_wallet()
        _stop(gateway)


def verify_cli(
    world: World, document: dict[str, Any], asked: dict[str, Any], name: str
) -> subprocess.CompletedProcess[str]:
    """`consentry zk verify-answer` as a recipient runs it: nothing of the gateway's but the public keys."""
    with world.gateway.client() as http:
        (world.tmp / "trust.json").write_text(http.get("/v1/zk/trust").text)
    (world.tmp / f"answer-{name}.json").write_text(json.dumps(document))
    (world.tmp / f"question-{name}.json").write_text(json.dumps(asked))
    files = [str(world.tmp / f"answer-{name}.json"), "--question", str(world.tmp / f"question-{name}.json")]
    return subprocess.run(
        [CONSENTRY, "zk", "verify-answer", *files, "--trust", str(world.tmp / "trust.json"), "--at-checkpoint"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(world.tmp)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_answer_over_a_superseded_statement_is_rejected_with_the_successor_named(
    world: tuple[World, Source],
) -> None:
    gateway_world, source = world
    gateway_world.start_wallet()  # first, so the short window is spent answering, not starting processes
    start = datetime.now(UTC).replace(microsecond=0)
    first = source.issue(["P0301", "P0420"], 1, start - timedelta(minutes=1), start + WINDOW)
    anchor(gateway_world, first)
    WalletStore(gateway_world.wallet_dir).add_statement(first)  # delivered: what `wallet import` keeps
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    answered = ask(gateway_world, DEALER, asked)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["holds"], answered.json()["statement"]["seq"]) == (True, 1)
    stored = answered.json()["answer"]
    gateway_world.stop_wallet()

    # The catalyst is replaced; the source's next window starts where the first ends, and it anchors then.
    time.sleep(max(0.0, (first.statement.valid_until - datetime.now(UTC)).total_seconds()) + 1)
    repaired = source.issue(
        ["P0301"], 2, first.statement.valid_until, first.statement.valid_until + timedelta(hours=1), first
    )
    anchor(gateway_world, repaired)

    with gateway_world.gateway.client() as http:  # public: whoever holds the statement may refresh its evidence
        refreshed = http.get(f"/v1/zk/statements/{first.statement.digest().hex()}/evidence")
    assert refreshed.status_code == 200, refreshed.text
    evidence = refreshed.json()
    assert evidence["successor"]["statement"]["statement"]["seq"] == 2
    shown = {"answer": stored["answer"], "evidence": evidence}
    with pytest.raises(AnswerRejected) as rejected:
        verify(shown, trust(gateway_world), question=Question.from_json(asked))
    assert rejected.value.reason == "superseded"
    index = evidence["successor"]["ledger_index"]
    assert f"(seq 1) was superseded by seq 2, anchored at ledger index {index}" in str(rejected.value)
    refused = verify_cli(gateway_world, shown, asked, "superseded")
    assert refused.returncode == 1, refused.stdout
    assert "invalid answer: superseded: the statement (seq 1) was superseded by seq 2" in refused.stderr

    # Against the checkpoint it was answered under, the same answer still stands.
    assert verify(stored, trust(gateway_world), question=Question.from_json(asked)).statement.seq == 1
    kept = verify_cli(gateway_world, stored, asked, "kept")
    assert kept.returncode == 0, kept.stderr
    assert "is TRUE for cust-1001" in kept.stdout


def test_the_gateway_refuses_to_relay_an_answer_over_the_superseded_statement(world: tuple[World, Source]) -> None:
    gateway_world, source = world
    held = list(WalletStore(gateway_world.wallet_dir).statements())
    first = next(h for h in held if h.statement.seq == 1)  # the previous test left her wallet holding only it
    asked = question(CATALYST, "dealer-sh-4s", SERVICE)
    waiting = ask(gateway_world, DEALER, asked, wait=0)
    assert waiting.status_code == 504, waiting.text
    question_id = waiting.json()["question_id"]
    stale = answer_question(first, Question.from_json(asked))  # what a wallet that never refreshed would send
    with DidSession(gateway_world.gateway.base_url, WalletStore(gateway_world.wallet_dir).key) as session:
        relayed = session.request(
            "POST", f"/v1/me/wallet/questions/{question_id}/answer", json={"answer": stale.to_json()}
        )
    assert relayed.status_code == 422, relayed.text
    problem = relayed.json()
    assert problem["type"].endswith("/answer-rejected") and problem["reason"] == "superseded"

    # Once the wallet holds the successor it answers the same question over it: the catalyst code is gone.
    deliver(gateway_world, source.issued[2])
    gateway_world.start_wallet()
    with gateway_world.http(DEALER) as http:
        outcome = http.get(f"/v1/zk/questions/{question_id}", params={"wait": 30}, timeout=60)
    assert outcome.status_code == 200, outcome.text
    assert (outcome.json()["holds"], outcome.json()["statement"]["seq"]) == (False, 2)
    verified = verify(outcome.json()["answer"], trust(gateway_world), question=Question.from_json(asked))
    assert (verified.holds, verified.statement.seq) == (False, 2)
