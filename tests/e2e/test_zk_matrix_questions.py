"""The matrix declares the questions (issue 15, point 4): an admin's matrix change applies to questions at once.

Real processes over real HTTP: a gateway (`consentry serve`), the vehicle cloud as the signing source and li.wei's
wallet answering on its own. The admin replaces the matrix with `PUT /v1/admin/matrix`; the dealer's next question
is judged by the new version: a template taken off the dealer's `asked` list is refused (problem+json with its
reason, recorded in the ledger), one added is answered, and a template whose category the rules no longer allow as
a predicate stays refused. A malformed matrix is a precise problem and changes nothing.
"""

from __future__ import annotations

import copy
import json
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, serve_on
from tests.e2e.zk_holder import enrol_holder, grant, statement_cloud

SUBJECT = "cust-1001"  # li.wei: fault codes P0301 and P0420
ADMIN, DEALER = "matrix-admin", "dealer-pudong"
DEALER_ORG, SERVICE = "dealer-sh-4s", "service_delivery"
CATALYST = {
    "id": "catalyst-or-misfire",
    "attribute": "fault_code",
    "predicate": {"op": "in", "operands": ["P0420", "P0300"]},
}
CONVERTER_SPEC = {"id": "catalytic-converter", "attribute": "fault_code", "op": "==", "operands": ["P0420"]}
CONVERTER = {"id": "catalytic-converter", "attribute": "fault_code", "predicate": {"op": "==", "operands": ["P0420"]}}
Document = dict[str, Any]


@dataclass
class World:
    gateway: Gateway
    environment: dict[str, str]
    wallet_dir: Path
    original: Document
    wallet_process: subprocess.Popen[bytes] | None = None

    def http(self, client_id: str) -> httpx.Client:
        return self.gateway.client(headers={"Authorization": f"Bearer {self.gateway.token(client_id)}"})

    def wallet(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONSENTRY, "wallet", "--dir", str(self.wallet_dir), *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def matrix(self) -> Document:
        with self.http(ADMIN) as http:
            response = http.get("/v1/admin/matrix")
        assert response.status_code == 200, response.text
        document: Document = response.json()
        return document

    def put_matrix(self, document: Document) -> httpx.Response:
        with self.http(ADMIN) as http:
            return http.put("/v1/admin/matrix", json=document, params={"note": "test"})

    def change(self, edit: Callable[[Document], None]) -> Document:
        """Apply the matrix in force with `edit` made to it; returns the change."""
        document = copy.deepcopy(self.matrix())
        edit(document)
        response = self.put_matrix(document)
        assert response.status_code == 200, response.text
        change: Document = response.json()
        return change

    def restore(self) -> None:
        response = self.put_matrix(self.original)
        assert response.status_code == 200, response.text


def question(template: Document) -> Document:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "template": template,
        "subject": SUBJECT,
        "audience": f"org:{DEALER_ORG}",
        "purpose": SERVICE,
        "nonce": secrets.token_urlsafe(18),
        "asked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": (now + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def ask(world: World, template: Document) -> httpx.Response:
    with world.http(DEALER) as http:
        return http.post("/v1/zk/questions", json={"question": question(template), "wait": 30}, timeout=60)


def dealer_asked(document: Document) -> list[str]:
    entry = next(a for a in document["questions"]["asked"] if (a["role"], a["purpose"]) == ("dealer", SERVICE))
    templates: list[str] = entry["templates"]
    return templates


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("zk-matrix")
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
    world = World(gateway, environment, tmp / "li.wei-wallet", {})
    try:
        gateway.register(ADMIN, ["admin"], ["admin"])
        gateway.register(DEALER, ["crm"], ["zk"], organization=DEALER_ORG, allowed_purposes=[SERVICE])
        initialised = world.wallet("init")
        assert initialised.returncode == 0, initialised.stderr
        did = initialised.stdout.strip()
        customer_id = enrol_holder(gateway.database_url, SUBJECT, did)
        assert httpx.put(f"{cloud.url}/customers/{SUBJECT}/wallet", json={"did": did}).status_code == 204
        grant(environment, customer_id, DEALER_ORG, SERVICE, "vehicle.fault_codes")
        fetched = world.wallet("fetch", "--source", cloud.url, "--source-key", source.verifier_key)
        assert fetched.returncode == 0, fetched.stderr
        for template in ("catalyst-or-misfire", "catalytic-converter"):
            added = world.wallet("rule", "add", "--recipient", f"org:{DEALER_ORG}", "--template", template)
            assert added.returncode == 0, added.stderr
        world.original = world.matrix()
        log_file = (tmp / "wallet.log").open("ab")
        command = [CONSENTRY, "wallet", "--dir", str(world.wallet_dir), "run", "--gateway", gateway.base_url]
        world.wallet_process = subprocess.Popen(
            [*command, "--wait", "5", "--no-ask"], env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
        yield world
    finally:
        if world.wallet_process is not None and world.wallet_process.poll() is None:
            world.wallet_process.send_signal(signal.SIGTERM)
            try:
                world.wallet_process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                world.wallet_process.kill()
                world.wallet_process.wait()
        _stop(gateway)
        cloud.stop()


@pytest.fixture
def restored(world: World) -> Iterator[World]:
    """Each test starts from, and leaves, the bundled matrix."""
    world.restore()
    yield world
    world.restore()


def recorded(world: World, index: int) -> Document:
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        payload = ledger.payload(index)
    assert payload is not None
    return dict(payload)


def test_the_matrix_in_force_carries_the_question_templates(restored: World) -> None:
    document = restored.matrix()
    assert document["questions"]["budget"] == 1
    ids = {t["id"] for t in document["questions"]["templates"]}
    assert {"catalyst-or-misfire", "adult", "income-band"} <= ids
    assert dealer_asked(document) == ["catalyst-or-misfire", "lives-in-shanghai"]


def test_putting_the_matrix_in_force_again_is_idempotent_and_records_nothing(restored: World) -> None:
    document = restored.matrix()
    with Ledger.open(restored.gateway.database_url, create=False) as ledger:
        size = ledger.size()
    for _ in range(2):
        response = restored.put_matrix(document)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == document["version"]
        assert response.json()["ledger_index"] is None
        assert not any(response.json()["diff"].values())
    with Ledger.open(restored.gateway.database_url, create=False) as ledger:
        assert ledger.size() == size
    assert restored.matrix() == document


def test_a_template_taken_off_the_dealers_list_is_refused_at_once_and_the_refusal_is_ledgered(
    restored: World,
) -> None:
    answered = ask(restored, CATALYST)
    assert answered.status_code == 200, answered.text
    assert answered.json()["holds"] is True

    change = restored.change(lambda d: dealer_asked(d).remove("catalyst-or-misfire"))
    removed = {"role": "dealer", "purpose": SERVICE, "template": "catalyst-or-misfire"}
    assert change["diff"]["questions"] == {"asked": {"added": [], "removed": [removed]}}
    assert change["diff"]["added"] == change["diff"]["removed"] == []

    refused = ask(restored, CATALYST)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/template-not-declared")
    assert problem["reason"] == "template_not_declared"
    assert problem["matrix_version"] == change["version"]
    assert refused.headers["Consentry-Ledger-Index"] == str(problem["ledger_index"])
    entry = recorded(restored, problem["ledger_index"])
    assert entry["outcome"] == "refused" and entry["reason"] == "template_not_declared"
    assert entry["template"] == "catalyst-or-misfire" and entry["matrix_version"] == change["version"]

    restored.change(lambda d: dealer_asked(d).append("catalyst-or-misfire"))
    again = ask(restored, CATALYST)
    assert again.status_code == 200, again.text  # the same template in the same period spends no budget


def test_a_template_added_to_the_matrix_becomes_askable_within_its_budget(restored: World) -> None:
    unknown = ask(restored, CONVERTER)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["type"].endswith("/unknown-template")

    def add_converter(document: Document) -> None:
        document["questions"]["templates"].append(CONVERTER_SPEC)
        dealer_asked(document).append("catalytic-converter")

    restored.change(add_converter)
    assert ask(restored, CATALYST).status_code == 200  # the dealer's one question about her fault codes
    spent = ask(restored, CONVERTER)
    assert spent.status_code == 403, spent.text
    assert spent.json()["type"].endswith("/question-budget-exhausted")

    restored.change(lambda d: d["questions"].update(budget=2))
    answered = ask(restored, CONVERTER)
    assert answered.status_code == 200, answered.text
    assert answered.json()["holds"] is True


def test_a_template_never_widens_the_rules(restored: World) -> None:
    def no_vehicle_rule(document: Document) -> None:
        document["rules"] = [r for r in document["rules"] if r["id"] != "dealer-vehicle-service"]

    change = restored.change(no_vehicle_rule)
    assert "catalyst-or-misfire" in dealer_asked(restored.matrix())
    refused = ask(restored, CATALYST)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/policy-refused")
    assert problem["category"] == "vehicle.fault_codes"
    entry = recorded(restored, problem["ledger_index"])
    assert entry["outcome"] == "refused" and entry["template"] == "catalyst-or-misfire"
    assert change["version"] == restored.matrix()["version"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["questions"]["templates"].append(
                {"id": "x", "attribute": "shoe_size", "op": ">=", "operands": [9]}
            ),
            "question template 'x': unknown attribute 'shoe_size'",
        ),
        (lambda d: dealer_asked(d).append("no-such-template"), "unknown question template 'no-such-template'"),
        (
            lambda d: d["questions"]["asked"].append({"role": "astronaut", "purpose": SERVICE, "templates": ["adult"]}),
            "unknown role 'astronaut'",
        ),
        (
            lambda d: d["questions"]["asked"].append({"role": "dealer", "purpose": "space", "templates": ["adult"]}),
            "unknown purpose 'space'",
        ),
        (
            lambda d: d["questions"]["templates"].append(
                {"id": "y", "attribute": "age", "op": ">=", "operands": ["18"]}
            ),
            "question template 'y': operator '>=' compares integers",
        ),
        (
            lambda d: d["questions"]["templates"].append(
                {"id": "z", "attribute": "fault_code", "op": "==", "operands": [420]}
            ),
            "question template 'z'",
        ),
        (
            lambda d: d["questions"]["templates"].append(dict(CONVERTER_SPEC, id="adult")),
            "duplicate question template id 'adult'",
        ),
    ],
    ids=[
        "unknown-attribute",
        "unknown-template-id",
        "unknown-role",
        "unknown-purpose",
        "string-threshold",
        "integer-fault-code",
        "duplicate-id",
    ],
)
def test_a_malformed_matrix_is_a_precise_problem_and_changes_nothing(
    restored: World, edit: Callable[[Document], None], message: str
) -> None:
    before = restored.matrix()
    document = copy.deepcopy(before)
    edit(document)
    response = restored.put_matrix(document)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-matrix")
    assert any(message in e["message"] for e in problem["errors"]), problem
    assert message in problem["detail"]
    assert restored.matrix() == before
