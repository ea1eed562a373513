"""Zero-knowledge predicate queries end to end (issue 6): a real `consentry serve`, a real vehicle cloud
(uvicorn on free ports), an OAuth client with scope `zk`, consents recorded with the real CLI, and every
response checked with the real `consentry zk verify`."""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from gateway.auth.customers import CustomerStore
from gateway.cli import app
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import VEHICLE_CLOUD, write_demo_registry
from gateway.store.database import create_db_engine
from gateway.zk import ResponseVerificationError, verify_response
from ledger import generate_signer_key
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, _wait_ready, serve_on

PURPOSE = "financial_product_recommendation"
CLIENT = "finance-crm"
SUBJECT = "cust-1001"  # born 1990-03-07, income 420000.00, Shanghai, fault codes P0301 (primary), P0420


@dataclass
class ZkWorld:
    gateway: Gateway
    environment: dict[str, str]
    tmp: Path
    log_key: str
    token: str
    customers: dict[str, str] = field(default_factory=dict)

    def enrol(self, subject: str) -> str:
        """A customer linked to the vehicle cloud's subject (as `consentry customer add --source-subject`)."""
        engine = create_db_engine(self.gateway.database_url)
        try:
            customer = CustomerStore(engine).create(
                username=f"user-{subject}",
                password="correct horse battery staple",
                display_name=subject,
                jurisdiction="CN",
                source_subject=subject,
            )
        finally:
            engine.dispose()
        self.customers[subject] = customer.customer_id
        return customer.customer_id

    def http(self, token: str | None = None) -> httpx.Client:
        return self.gateway.client(headers={"Authorization": f"Bearer {token or self.token}"})

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONSENTRY, *args], env=self.environment, capture_output=True, text=True, timeout=120, check=False
        )

    def cli_in_process(self, *args: str) -> Result:
        """The same command line without a process start-up, where the process itself is not the point."""
        env = {k: v for k, v in self.environment.items() if k.startswith("CONSENTRY_")}
        return CliRunner().invoke(app, list(args), env=env)

    def grant(self, subject: str, *categories: str) -> str:
        """A separate consent (PIPL Art. 29: income is sensitive) to acme-finance, with the real CLI."""
        customer_id = self.customers.get(subject) or self.enrol(subject)
        args = ["consent", "grant", "--subject", customer_id, "--purpose", PURPOSE, "--separate", "--json"]
        args += ["--recipient", "org:acme-finance", "--jurisdiction", "CN", "--actor", "admin:test"]
        for category in categories:
            args += ["--category", category]
        result = self.cli_in_process(*args)
        assert result.exit_code == 0, result.output
        return str(json.loads(result.stdout)["record_id"])


def query(world: ZkWorld, attribute: str, predicate: dict[str, Any], *, subject: str = SUBJECT) -> httpx.Response:
    body = {
        "subject": subject,
        "attribute": attribute,
        "predicate": predicate,
        "purpose": PURPOSE,
        "nonce": secrets.token_urlsafe(18),
    }
    with world.http() as http:
        return http.post("/v1/zk/queries", json=body)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkWorld]:
    tmp = tmp_path_factory.mktemp("zk")
    cloud = BackgroundServer(create_vehicle_cloud_app(), port=_free_port()).start()
    upstreams = write_demo_registry(tmp / "upstreams.yaml", {VEHICLE_CLOUD: cloud.url})
    port = _free_port()
    try:  # the source is stopped if the gateway never comes up
        gateway, environment = serve_on(
            tmp,
            port,
            CONSENTRY_UPSTREAMS_PATH=str(upstreams),
            CONSENTRY_ZK_THRESHOLD_QUERIES="true",  # the gateway-proved queries of issue 6, off by default
        )
    except BaseException:
        cloud.stop()
        raise
    try:
        gateway.register(CLIENT, ["crm"], ["zk"], organization="acme-finance", allowed_purposes=[PURPOSE, "marketing"])
        gateway.register("auditor", ["auditor"], ["ledger:read"])
        with gateway.client(headers={"Authorization": f"Bearer {gateway.token('auditor')}"}) as http:
            keys = http.get("/v1/ledger/keys").json()["verifier_keys"]
        world = ZkWorld(gateway, environment, tmp, keys[0], gateway.token(CLIENT))
        world.grant(SUBJECT, "profile.birth_date", "financial.income", "vehicle.fault_codes")
        yield world
    finally:
        _stop(gateway)
        cloud.stop()


def save(world: ZkWorld, document: dict[str, Any], name: str) -> Path:
    path = world.tmp / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def cli_verify(world: ZkWorld, path: Path, *extra: str, log_key: str | None = None) -> subprocess.CompletedProcess[str]:
    return world.cli("zk", "verify", str(path), "--log-key", log_key or world.log_key, *extra)


def test_consent_and_matrix_allow_a_proven_answer_that_the_cli_verifies(world: ZkWorld) -> None:
    response = query(world, "age", {"op": ">=", "operands": [18]})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["holds"] is True
    assert document["context"]["client_id"] == CLIENT
    assert document["context"]["anchor"] == f"ledger:{document['anchor']['ledger_index']};epoch:1"
    assert document["anchor"]["checkpoint"]["size"] > document["anchor"]["ledger_index"]
    assert "1990" not in response.text  # the birth date never leaves
    context = document["context"]
    result = cli_verify(
        world,
        save(world, document, "age"),
        "--nonce",
        context["nonce"],
        "--client-id",
        CLIENT,
        "--purpose",
        PURPOSE,
        "--subject",
        SUBJECT,
        "--predicate",
        '{"op": ">=", "operands": [18]}',
    )
    assert result.returncode == 0, result.stderr
    assert "valid: age >= 18 is TRUE" in result.stdout


def test_a_false_answer_carries_a_valid_proof_of_the_negation(world: ZkWorld) -> None:
    response = query(world, "annual_income_cents", {"op": "within", "operands": [50_000_000, 100_000_000]})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["holds"] is False
    verified = verify_response(document, [world.log_key])
    assert verified.holds is False
    result = world.cli_in_process(
        "zk", "verify", str(save(world, document, "income")), "--log-key", world.log_key, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["holds"] is False
    # claiming "yes" with the negation's proof fails
    flipped = copy.deepcopy(document)
    flipped["holds"] = flipped["answer"]["holds"] = True
    with pytest.raises(ResponseVerificationError) as caught:
        verify_response(flipped, [world.log_key])
    assert caught.value.reason == "proof"


def test_the_query_is_an_access_in_the_ledger_releasing_nothing(world: ZkWorld) -> None:
    document = query(world, "age", {"op": "<", "operands": [65]}).json()
    index = document["access"]["ledger_index"]
    with world.gateway.client(headers={"Authorization": f"Bearer {world.gateway.token('auditor')}"}) as http:
        events = http.get("/v1/ledger/events", params={"type": "zk.query", "recipient": "acme-finance"}).json()
    assert index in [event["index"] for event in events["events"]]


def test_a_replayed_nonce_is_refused_here_and_by_a_second_process_on_the_same_database(world: ZkWorld) -> None:
    body = {
        "subject": SUBJECT,
        "attribute": "age",
        "predicate": {"op": ">=", "operands": [21]},
        "purpose": PURPOSE,
        "nonce": secrets.token_urlsafe(18),
    }
    with world.http() as http:
        assert http.post("/v1/zk/queries", json=body).status_code == 200
        replay = http.post("/v1/zk/queries", json=body)
    assert replay.status_code == 409
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["type"] == "https://consentry.dev/problems/nonce-replayed"

    port = _free_port()
    environment = {**world.environment, "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}", "CONSENTRY_PORT": str(port)}
    log_path = world.tmp / "second.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    second = Gateway(f"http://127.0.0.1:{port}", world.gateway.data_dir, world.gateway.database_url, log_path, process)
    second.secrets = world.gateway.secrets
    try:
        _wait_ready(second)
        with second.client(headers={"Authorization": f"Bearer {second.token(CLIENT)}"}) as http:
            elsewhere = http.post("/v1/zk/queries", json=body)
    finally:
        _stop(second)
    assert elsewhere.status_code == 409, elsewhere.text


def test_a_categorical_attribute_from_a_set_valued_source_uses_the_primary_code(world: ZkWorld) -> None:
    response = query(world, "fault_code", {"op": "in", "operands": ["P0301", "P0300"]})
    # the matrix allows fault codes only to the R&D partner: a finance recipient is refused by the matrix
    assert response.status_code == 403
    assert response.json()["reason"] == "no_matching_rule"


def test_the_operator_anchors_from_the_source_with_the_cli_and_unchanged_values_keep_their_epoch(
    world: ZkWorld,
) -> None:
    world.enrol("cust-1002")
    first = world.cli("zk", "anchor", "cust-1002", "--attribute", "city", "--attribute", "annual_income_cents")
    assert first.returncode == 0, first.stderr
    assert "city: anchored, epoch 1" in first.stdout
    assert "annual_income_cents: anchored, epoch 1" in first.stdout
    again = world.cli_in_process("zk", "anchor", "cust-1002", "--attribute", "city")
    assert again.exit_code == 0, again.output
    assert "city: unchanged, epoch 1" in again.stdout
    unknown = world.cli_in_process("zk", "anchor", "cust-9999", "--attribute", "city")
    assert unknown.exit_code == 1
    assert "no customer is enrolled" in unknown.stderr


def test_unknown_attribute_and_bad_predicate_are_precise_problems(world: ZkWorld) -> None:
    assert query(world, "shoe_size", {"op": ">=", "operands": [40]}).status_code == 404
    bad = query(world, "age", {"op": ">=", "operands": [300]})
    assert bad.status_code == 422
    assert bad.json()["type"] == "https://consentry.dev/problems/invalid-predicate"


def test_tampered_responses_fail_the_cli_with_a_reason_and_no_traceback(world: ZkWorld) -> None:
    document = query(world, "age", {"op": ">=", "operands": [30]}).json()

    def proof_byte_flipped(doc: dict[str, Any]) -> None:
        raw = bytearray(base64.urlsafe_b64decode(doc["answer"]["proof"] + "=="))
        raw[40] ^= 1
        doc["answer"]["proof"] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    def other_predicate(doc: dict[str, Any]) -> None:
        doc["answer"]["statement"]["predicate"]["operands"] = [17]

    def other_anchor_epoch(doc: dict[str, Any]) -> None:
        doc["anchor"]["payload"]["epoch"] = 2

    def other_nonce(doc: dict[str, Any]) -> None:
        doc["context"]["nonce"] = "someone-elses-nonce-0001"

    for name, tamper, reason in (
        ("proof", proof_byte_flipped, "proof"),
        ("predicate", other_predicate, "proof"),
        ("payload", other_anchor_epoch, "anchor"),
        ("nonce", other_nonce, "proof"),
    ):
        tampered = copy.deepcopy(document)
        tamper(tampered)
        with pytest.raises(ResponseVerificationError) as caught:
            verify_response(tampered, [world.log_key])
        assert caught.value.reason == reason, name
    tampered = copy.deepcopy(document)
    proof_byte_flipped(tampered)
    result = cli_verify(world, save(world, tampered, "tampered"))
    assert result.returncode == 1
    assert "invalid response: proof" in result.stderr
    assert "Traceback" not in result.stderr
    # a verifier that asked something else is told so
    with pytest.raises(ResponseVerificationError) as caught:
        verify_response(document, [world.log_key], nonce="not-the-nonce-i-sent")
    assert caught.value.reason == "statement"


def test_the_wrong_log_key_fails_and_a_malformed_one_is_bad_input(world: ZkWorld) -> None:
    document = query(world, "age", {"op": ">=", "operands": [18]}).json()
    path = save(world, document, "for-keys")
    origin = document["anchor"]["checkpoint"]["origin"]
    _, impostor = generate_signer_key(origin)
    wrong = cli_verify(world, path, log_key=impostor)
    assert wrong.returncode == 1
    assert "checkpoint" in wrong.stderr and "Traceback" not in wrong.stderr
    malformed = world.cli_in_process("zk", "verify", str(path), "--log-key", "not a key")
    assert malformed.exit_code == 2
    assert "not a signed-note verifier key" in malformed.stderr


def test_withdrawn_consent_refuses_the_next_query(world: ZkWorld) -> None:
    subject = "cust-1003"  # a subject of its own, so other tests keep their consents
    record = world.grant(subject, "profile.birth_date")
    assert query(world, "birth_day_number", {"op": "<=", "operands": [20_000]}, subject=subject).status_code == 200
    result = world.cli("consent", "withdraw", record, "--actor", "customer:zhang.min")
    assert result.returncode == 0, result.stderr
    refused = query(world, "birth_day_number", {"op": "<=", "operands": [20_000]}, subject=subject)
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"] == "https://consentry.dev/problems/policy-refused"
    assert problem["reason"] == "consent_withdrawn"


def test_a_refused_query_is_recorded_and_the_customer_sees_every_question_asked_about_them(world: ZkWorld) -> None:
    """A refusal discloses consent state, so like the proxy's it is a ledgered access; "who used my data" lists
    predicate queries with the attribute, the predicate and the yes/no, never a value."""
    subject = "cust-1002"
    world.grant(subject, "financial.income")
    answered = query(world, "annual_income_cents", {"op": ">=", "operands": [10_000_000]}, subject=subject)
    assert answered.status_code == 200, answered.text
    refused = query(world, "age", {"op": ">=", "operands": [18]}, subject=subject)  # no consent for birth date
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"] == "https://consentry.dev/problems/policy-refused"
    assert int(refused.headers["Consentry-Ledger-Index"]) == problem["ledger_index"]

    http = world.gateway.customer_session(f"user-{subject}", "correct horse battery staple")
    try:
        entries = http.get("/v1/me/accesses").json()
    finally:
        http.close()
    asked = {e["ledger_index"]: e for e in entries if e["type"] == "zk.query"}
    assert asked[answered.json()["access"]["ledger_index"]]["predicate"] == {
        "attribute": "annual_income_cents",
        "category": "financial.income",
        "predicate": {"op": ">=", "operands": [10_000_000]},
        "outcome": "answered",
        "holds": answered.json()["holds"],
    }
    assert asked[answered.json()["access"]["ledger_index"]]["released"] == []
    denied = asked[problem["ledger_index"]]
    assert denied["predicate"]["outcome"] == "refused" and denied["predicate"]["holds"] is None
    assert denied["withheld"] == {"profile.birth_date": [problem["reason"]]}
    assert denied["organization"] and denied["purpose"] == PURPOSE

    # The portal's "who used my data" page says the same in words, in the customer's language.
    with httpx.Client(base_url=world.gateway.base_url, timeout=30) as browser:
        form = browser.get("/portal/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        credentials = {"username": f"user-{subject}", "password": "correct horse battery staple"}
        assert browser.post("/portal/sign-in", data={"csrf_token": token.group(1), **credentials}).status_code == 303
        page = browser.get("/portal/accesses").text
        chinese = browser.get("/portal/accesses", headers={"Accept-Language": "zh-CN"}).text
    yes_or_no = "yes" if answered.json()["holds"] else "no"
    assert f"Asked whether your annual income is at least 100,000.00 — answered {yes_or_no}, with a proof" in page
    assert "Asked whether your age is at least 18 — refused by your consents or the policy" in page
    assert "annual_income_cents" not in page.replace('data-attribute="annual_income_cents"', "")
    assert f"询问您的年收入是否不低于 100,000.00——回答：{'是' if answered.json()['holds'] else '否'}" in chinese
    assert "询问您的年龄是否不低于 18——因您的授权或政策被拒绝" in chinese
