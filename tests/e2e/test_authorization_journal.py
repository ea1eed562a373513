"""Every authorization action is a ledger entry (issue 16, point 6), over real HTTP against a real server: client
registration, secret rotation, disabling, customer enrolment, identity data recorded by an administrator, and a
refusal for a purpose the client is not registered for. The national id is sealed at rest. The demo's seeding
leaves an entry for each of its own actions, and `consentry client add` refuses purposes the taxonomy lacks."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.demo.seed import DEMO_CLIENTS, DEMO_GUARDIANS, DEMO_PEOPLE, SEED_ACTOR, seed_demo
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from gateway.store.tables import customer_attributes
from ledger import parse_envelope
from tests.e2e.conftest import CONSENTRY, Actors, Gateway

NATIONAL_ID = "11010519900307451X"


def _entries(actors: Actors, after: int, **query: str) -> list[dict[str, Any]]:
    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"})) as http:
        page = http.get("/v1/ledger/events", params={"after": after, "limit": 1000, **query})
    assert page.status_code == 200, page.text
    return list(page.json()["events"])


def _size(actors: Actors) -> int:
    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"})) as http:
        return int(http.get("/v1/ledger/checkpoint").json()["size"])


def test_client_and_customer_administration_is_ledgered_and_identity_data_sealed(actors: Actors) -> None:
    before = _size(actors) - 1
    client_id = f"dealer-{uuid.uuid4().hex[:6]}"
    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}"})) as admin:
        registered = admin.post(
            "/v1/admin/clients",
            json={
                "client_id": client_id,
                "name": "Dealer",
                "organization": "dealer-bj-4s",
                "roles": ["crm"],
                "scopes": ["proxy"],
                "allowed_purposes": ["service_delivery"],
                "jurisdiction": "CN",
            },
        )
        assert registered.status_code == 201, registered.text
        assert admin.post(f"/v1/admin/clients/{client_id}/secret").status_code == 200
        assert admin.patch(f"/v1/admin/clients/{client_id}", json={"disabled": True}).status_code == 200
        enrolled = admin.post(
            "/v1/admin/customers",
            json={
                "username": f"zhao.{uuid.uuid4().hex[:6]}",
                "password": "a long enough password 123",
                "display_name": "Zhao",
                "jurisdiction": "CN",
            },
        )
        assert enrolled.status_code == 201, enrolled.text
        customer_id = enrolled.json()["customer_id"]
        recorded = admin.put(
            f"/v1/admin/customers/{customer_id}/attributes", json={"name": "Zhao Lei", "national_id": NATIONAL_ID}
        )
        assert recorded.status_code == 204, recorded.text
    events = _entries(actors, before)
    by_type = {e["type"]: e for e in events if e["actor"] == "client:admin"}
    assert {
        "client.registered",
        "client.credentials_rotated",
        "client.disabled",
        "customer.enrolled",
        "customer.attributes_recorded",
    } <= set(by_type)
    assert by_type["client.registered"]["subject"] == f"client:{client_id}"
    assert by_type["customer.enrolled"]["subject"] != customer_id  # a pseudonym, as every customer in the ledger
    assert by_type["customer.attributes_recorded"]["subject"] == by_type["customer.enrolled"]["subject"]

    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"})) as http:
        index = by_type["customer.attributes_recorded"]["index"]
        leaf = http.get("/v1/ledger/entries", params={"start": index, "end": index + 1}).json()["entries"][0]
    assert NATIONAL_ID.encode() not in base64.b64decode(leaf["data"])
    engine = create_db_engine(actors.gateway.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(customer_attributes.c.attributes).where(customer_attributes.c.customer_id == customer_id)
            ).scalar()
    finally:
        engine.dispose()
    assert set(stored) == {"sealed"} and NATIONAL_ID not in str(stored) and "Zhao Lei" not in str(stored)


def test_a_purpose_the_client_is_not_registered_for_is_a_recorded_refusal(actors: Actors) -> None:
    before = _size(actors) - 1
    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.crm}"})) as crm:
        refused = crm.get("/v1/proxy/vehicle-cloud/customers/cust-1001", headers={"Consentry-Purpose": "marketing"})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/purpose-not-allowed")
    index = int(refused.headers["Consentry-Ledger-Index"])
    assert refused.json()["ledger_index"] == index
    (entry,) = [e for e in _entries(actors, before) if e["index"] == index]
    assert entry["type"] == "access.refused" and entry["actor"] == "client:crm" and entry["purpose"] == "marketing"


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.start(Settings(data_dir=tmp_path / "data", issuer="http://127.0.0.1:8000"))
    try:
        seed_demo(runtime)
        yield runtime
    finally:
        runtime.close()


def test_every_administrative_action_of_the_demo_seeding_is_in_the_ledger(seeded: Runtime) -> None:
    entries = [parse_envelope(seeded.ledger.entry(i)) for i in range(seeded.ledger.size())]
    seeding = [e for e in entries if e["actor"] == SEED_ACTOR]
    registered = sorted(e["subject"] for e in seeding if e["type"] == "client.registered")
    assert registered == sorted(f"client:{c.client_id}" for c in DEMO_CLIENTS)
    enrolled = [e for e in seeding if e["type"] == "customer.enrolled"]
    assert len(enrolled) == len(DEMO_PEOPLE) + len(DEMO_GUARDIANS)
    links = [e for e in seeding if e["type"] == "customer.identity_linked"]
    assert links and {e["subject"] for e in links} <= {e["subject"] for e in enrolled}
    assert any(e["type"].startswith("guardian") for e in entries)


def test_client_add_refuses_purposes_and_recipients_the_taxonomy_does_not_know(tmp_path: Path) -> None:
    environment = {**os.environ, "CONSENTRY_DATA_DIR": str(tmp_path / "data")}
    environment.pop("CONSENTRY_DATABASE_URL", None)
    base = [CONSENTRY, "client", "add", "--name", "x", "--role", "crm", "--scope", "proxy", "--jurisdiction", "CN"]
    for extra, message in (
        (["--organization", "dealer-sh-4s", "--purpose", "world-domination"], "not in the taxonomy: world-domination"),
        (["--organization", "Shady Data Brokers", "--purpose", "marketing"], "'Shady Data Brokers' is not one"),
    ):
        result = subprocess.run([*base, *extra], env=environment, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stdout
        assert message in result.stderr and "Traceback" not in result.stderr
    accepted = [*base, "--organization", "dealer-sh-4s", "--purpose", "repair_prediction"]
    assert subprocess.run(accepted, env=environment, capture_output=True, timeout=120).returncode == 0


def test_admin_api_refuses_purposes_and_recipients_the_taxonomy_does_not_know(actors: Actors) -> None:
    """The HTTP route holds registrations to the same vocabulary as `consentry client add`: a purpose no policy
    decides on is refused with a problem naming it, and nothing is registered or ledgered for it."""
    before = _size(actors) - 1
    body = {"name": "x", "roles": ["crm"], "scopes": ["proxy"], "jurisdiction": "CN"}
    with closing(actors.gateway.client(headers={"Authorization": f"Bearer {actors.admin}"})) as admin:
        unknown_purpose = admin.post(
            "/v1/admin/clients",
            json={
                **body,
                "client_id": "world-dominator",
                "organization": "dealer-sh-4s",
                "allowed_purposes": ["marketing", "world-domination"],
            },
        )
        unknown_recipient = admin.post(
            "/v1/admin/clients",
            json={**body, "organization": "Shady Data Brokers", "allowed_purposes": ["marketing"]},
        )
        listed = admin.get("/v1/admin/clients/world-dominator")
    assert unknown_purpose.status_code == 422, unknown_purpose.text
    assert unknown_purpose.headers["content-type"].startswith("application/problem+json")
    problem = unknown_purpose.json()
    assert problem["type"] == "https://consentry.dev/problems/invalid-client-metadata"
    assert "not in the taxonomy: world-domination (" in problem["detail"]
    assert unknown_recipient.status_code == 422, unknown_recipient.text
    assert "'Shady Data Brokers' is not one" in unknown_recipient.json()["detail"]
    assert listed.status_code == 404
    assert not [e for e in _entries(actors, before) if e["type"] == "client.registered"]


def test_an_authorization_change_the_ledger_cannot_record_does_not_happen(
    start_gateway: Callable[..., Gateway],
) -> None:
    """The change and its ledger entry commit together: while only the ledger fails to write (a trigger on its
    entries table calls a function SQLite does not have, an OperationalError as from a failing disk), registering
    a client, enrolling a customer or rotating a secret is answered 503 and leaves no client, no customer and no
    new secret behind; once the ledger writes again, each succeeds with its entry."""
    gateway = start_gateway()
    gateway.register("admin", ["admin"], ["admin", "ledger:read"])
    admin_token = gateway.token("admin")
    client = {
        "client_id": "dealer-unrecorded",
        "name": "Dealer",
        "organization": "dealer-bj-4s",
        "roles": ["crm"],
        "scopes": ["proxy"],
        "allowed_purposes": ["service_delivery"],
        "jurisdiction": "CN",
    }
    customer = {"username": "zhou.unrecorded", "password": "a long enough password 123", "jurisdiction": "CN"}
    database = gateway.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as db:
        db.execute(
            "CREATE TRIGGER refuse_appends BEFORE INSERT ON ledger_entries BEGIN SELECT ledger_cannot_write(); END"
        )
        db.commit()
    with closing(gateway.client(headers={"Authorization": f"Bearer {admin_token}"})) as admin:
        refused = [
            admin.post("/v1/admin/clients", json=client),
            admin.post("/v1/admin/customers", json=customer),
            admin.post("/v1/admin/clients/admin/secret"),
        ]
        for response in refused:
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
        assert admin.get("/v1/admin/clients/dealer-unrecorded").status_code == 404
        assert customer["username"] not in {c["username"] for c in admin.get("/v1/admin/customers").json()}
        # the secret was not rotated: the one issued before still gets a token
        with closing(gateway.client()) as http:
            assert (
                http.post(
                    "/oauth/token", data={"grant_type": "client_credentials"}, auth=("admin", gateway.secrets["admin"])
                ).status_code
                == 200
            )
        with closing(sqlite3.connect(database)) as db:
            db.execute("DROP TRIGGER refuse_appends")
            db.commit()
        size = int(admin.get("/v1/ledger/checkpoint").json()["size"])
        assert admin.post("/v1/admin/clients", json=client).status_code == 201
        assert admin.post("/v1/admin/customers", json=customer).status_code == 201
        assert admin.post("/v1/admin/clients/admin/secret").status_code == 200
        recorded = admin.get("/v1/ledger/events", params={"after": size - 1, "actor": "client:admin"}).json()
    assert [e["type"] for e in recorded["events"]] == [
        "client.registered",
        "customer.enrolled",
        "client.credentials_rotated",
    ]
