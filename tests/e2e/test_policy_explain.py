"""`consentry policy explain` decides for a stored customer exactly as the gateway does (issue 14, point 7).

On the real demo, every demo customer (from the seed) × every recipient × every purpose of the taxonomy is asked
twice: of the running gateway over HTTP ("May I?", `/v1/decisions/...`, as a CRM client of that recipient)
and of `consentry policy explain --customer` on the same database. Allowed and the reasons a client is shown must
agree for every category of the source's field map. (Before issue 14 explain assumed a `standard` customer: for
the minor it answered ALLOW where the gateway refused.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.auth.clients import ClientRegistry
from gateway.demo.seed import DEMO_PEOPLE
from gateway.demo.stack import DemoStack
from gateway.proxy.access import public_reasons
from gateway.store.database import create_db_engine
from policies import DEFAULT_TAXONOMY, Reason, load_taxonomy
from tests.e2e.conftest import _free_port

CONSENTRY = str(Path(sys.executable).with_name("consentry"))
TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, dict[str, str]]]:
    """The demo, with one CRM client per recipient organisation, registered for every purpose."""
    directory = tmp_path_factory.mktemp("explain") / "demo"
    with DemoStack(directory, port=_free_port(), upstream_port=_free_port()) as stack:
        engine = create_db_engine(f"sqlite:///{directory / 'consentry.db'}")
        secrets = {}
        try:
            registry = ClientRegistry(engine)
            for recipient in TAXONOMY.recipients:
                _, secret = registry.register(
                    client_id=f"explain-{recipient}",
                    name=recipient,
                    organization=recipient,
                    roles=["crm"],
                    scopes=["proxy"],
                    allowed_purposes=list(TAXONOMY.purposes),
                    jurisdiction="CN",
                )
                assert secret is not None
                secrets[recipient] = secret
        finally:
            engine.dispose()
        yield stack, secrets


def _gateway_answers(stack: DemoStack, secrets: dict[str, str], subject: str) -> dict[tuple[str, str], dict]:
    answers = {}
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        for recipient, secret in secrets.items():
            token = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(f"explain-{recipient}", secret)
            ).json()["access_token"]
            for purpose in TAXONOMY.purposes:
                answer = http.get(
                    f"/v1/decisions/vehicle-cloud/customers/{subject}",
                    headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": purpose},
                )
                assert answer.status_code == 200, f"{recipient} {purpose}: {answer.text}"
                answers[(recipient, purpose)] = answer.json()["categories"]
    return answers


def _explained(stack: DemoStack, username: str, categories: list[str]) -> dict[tuple[str, str], dict]:
    command = [CONSENTRY, "policy", "explain", "--customer", username, "--json"]
    command += [arg for r in TAXONOMY.recipients for arg in ("--recipient", r)]
    command += [arg for p in TAXONOMY.purposes for arg in ("--purpose", p)]
    command += [arg for c in categories for arg in ("--category", c)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    environment["CONSENTRY_DATA_DIR"] = str(stack.data_dir)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return {
        (d["recipient"], d["purpose"]): {
            c["category"]: {
                "allowed": c["allowed"],
                "reasons": [] if c["allowed"] else public_reasons([Reason(r) for r in c["reasons"]]),
            }
            for c in d["categories"]
        }
        for d in json.loads(done.stdout)
    }


@pytest.mark.parametrize("person", DEMO_PEOPLE, ids=[p.username for p in DEMO_PEOPLE])
def test_explain_decides_every_recipient_and_purpose_as_the_gateway_does(
    demo: tuple[DemoStack, dict[str, str]], person: object
) -> None:
    stack, secrets = demo
    gateway = _gateway_answers(stack, secrets, person.source_subject)  # type: ignore[attr-defined]
    categories = sorted(next(iter(gateway.values())))
    explained = _explained(stack, person.username, categories)  # type: ignore[attr-defined]
    assert explained.keys() == gateway.keys()
    differing = {pair: (gateway[pair], explained[pair]) for pair in gateway if gateway[pair] != explained[pair]}
    assert not differing, differing
    # the comparison is not vacuous: each customer has both answers somewhere
    verdicts = {answer["allowed"] for pair in gateway.values() for answer in pair.values()}
    assert verdicts == {True, False}


def test_explain_refuses_to_decide_a_stored_customer_as_someone_else(demo: tuple[DemoStack, dict[str, str]]) -> None:
    stack, _ = demo
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    environment["CONSENTRY_DATA_DIR"] = str(stack.data_dir)
    command = [CONSENTRY, "policy", "explain", "--customer", "wang.xiaoming", "--customer-type", "standard"]
    command += ["--recipient", "dealer-sh-4s", "--purpose", "repair_prediction", "--category", "vehicle.vin"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "the stored customer's is minor" in done.stderr
