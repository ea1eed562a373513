"""The complete, portable export over real HTTP (GDPR Art. 20, EU Data Act Art. 4-5): a real gateway process and
a real vehicle cloud. JSON and CSV hold every field of the source record, the unmapped IMEI included, and the
CSV's columns are the documented ones; a direct transfer lets the R&D partner's client fetch the export once."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gateway.auth.customers import CustomerStore
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import DEMO_UPSTREAMS_PATH
from gateway.rights.export_csv import TABLES, table_rows
from gateway.store.database import create_db_engine
from tests.e2e.conftest import CUSTOMER_PASSWORD, Gateway, _free_port

IMEI = "356938035643809"  # cust-1001's telematics unit: no data category names it


@dataclass
class World:
    gateway: Gateway
    username: str


@pytest.fixture
def world(start_gateway: object, tmp_path: Path) -> Iterator[World]:
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as cloud:
        document = yaml.safe_load(DEMO_UPSTREAMS_PATH.read_text())
        (vehicle_cloud,) = [u for u in document["upstreams"] if u["name"] == "vehicle-cloud"]
        document["upstreams"] = [dict(vehicle_cloud, base_url=cloud.url)]
        (tmp_path / "upstreams.yaml").write_text(yaml.safe_dump(document))
        gateway = start_gateway(upstreams_path=str(tmp_path / "upstreams.yaml"))  # type: ignore[operator]
        username = f"li.{uuid.uuid4().hex[:6]}"
        engine = create_db_engine(gateway.database_url)
        try:
            CustomerStore(engine).create(
                username=username,
                password=CUSTOMER_PASSWORD,
                display_name="Li Wei",
                jurisdiction="CN",
                source_subject="cust-1001",
            )
        finally:
            engine.dispose()
        gateway.register("rnd", ["crm"], ["proxy"], organization="stuttgart-rnd", allowed_purposes=["joint_rnd"])
        gateway.register("dealer", ["crm"], ["proxy"], organization="dealer-sh-4s", allowed_purposes=["recall_notice"])
        yield World(gateway, username)


def test_json_export_holds_every_source_field_including_unmapped_ones(world: World) -> None:
    with closing(world.gateway.customer_session(world.username)) as http:
        document = http.get("/v1/me/export").json()
    source = document["sources"]["vehicle-cloud"]
    assert source["data"]["telematics_unit"] == {"imei": IMEI, "firmware": "4.2.1"}
    assert {"/telematics_unit/imei", "/telematics_unit/firmware"} <= set(source["unmapped_fields"])
    assert source["field_categories"]["/phone"] == ["contact.phone"]
    # a trip's end point is both driving behaviour and a precise location
    assert source["field_categories"]["/driving/trips/0/end/lat"] == ["behavior.driving", "location.precise"]


def test_csv_export_is_a_zip_of_documented_utf8_tables(world: World) -> None:
    with closing(world.gateway.customer_session(world.username)) as http:
        response = http.get("/v1/me/export", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(archive.namelist()) == {"README.txt", *TABLES}
    readme = archive.read("README.txt").decode("utf-8")
    tables = {}
    for name, (_, columns) in TABLES.items():
        rows = list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"), newline="")))
        assert rows[0] == [column for column, _ in columns], name
        tables[name] = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        assert f"{name}: " in readme and all(f"  {column}: " in readme for column, _ in columns)
    fields = {(r["field"], r["category"]): r["value"] for r in tables["source_fields.csv"]}
    assert fields[("/telematics_unit/imei", "")] == IMEI
    assert fields[("/name", "identity.name")] == "Li Wei"
    assert json.loads(fields[("/vehicle/mileage_km", "vehicle.mileage")]) == 38210
    assert tables["customer.csv"][0]["display_name"] == "Li Wei"
    assert tables["sources.csv"][0]["status"] == "exported"
    assert any(r["type"] == "access.portability" for r in tables["accesses.csv"])


def test_every_json_key_of_a_table_is_a_documented_column(world: World) -> None:
    """The CSV writes the documented columns only, so a key added to the JSON without a column would be lost."""
    with closing(world.gateway.customer_session(world.username)) as http:
        agreement = http.get("/v1/me/catalog", params={"lang": "en"}).json()["agreement"]
        given = http.post(
            "/v1/me/consents",
            json={
                "recipients": ["org:dealer-sh-4s"],
                "purposes": ["repair_prediction"],
                "categories": ["vehicle.mileage"],
                "notice": {"version": agreement["version"], "sha256": agreement["sha256"]},
                "lang": "en",
            },
        )
        document = http.get("/v1/me/export").json()
    assert given.status_code in (200, 201), given.text
    for name, rows in table_rows(document).items():
        documented = {column for column, _ in TABLES[name][1]}
        for row in rows:
            assert set(row) <= documented, (name, set(row) - documented)
    assert document["consents"]["records"] and document["receipts"]


def test_a_direct_transfer_is_fetched_once_by_the_chosen_recipient(world: World) -> None:
    gateway = world.gateway
    with closing(gateway.customer_session(world.username)) as http:
        refused = http.post("/v1/me/export/transfers", json={"recipient": "nobody-gmbh"})
        assert refused.status_code == 422 and refused.json()["type"].endswith("/invalid-transfer")
        granted = http.post("/v1/me/export/transfers", json={"recipient": "stuttgart-rnd", "format": "csv"})
        assert granted.status_code == 201, granted.text
        grant = granted.json()
        assert grant["state"] == "open" and grant["ledger_index"] >= 0
    path = f"/v1/transfers/{grant['grant_id']}"
    with closing(gateway.client(headers={"Authorization": f"Bearer {gateway.token('dealer')}"})) as dealer:
        assert dealer.get(path).status_code == 404  # not the organization the customer chose
    with closing(gateway.client(headers={"Authorization": f"Bearer {gateway.token('rnd')}"})) as rnd:
        fetched = rnd.get(path)
        assert fetched.status_code == 200, fetched.text
        archive = zipfile.ZipFile(io.BytesIO(fetched.content))
        assert IMEI in archive.read("source_fields.csv").decode("utf-8")
        again = rnd.get(path)
        assert again.status_code == 410 and again.json()["type"].endswith("/transfer-gone")
    with closing(gateway.customer_session(world.username)) as http:
        (listed,) = http.get("/v1/me/export/transfers").json()
        accesses = http.get("/v1/me/accesses").json()
    assert listed["state"] == "fetched" and listed["fetch_ledger_index"] > grant["ledger_index"]
    (seen,) = [a for a in accesses if a["type"] == "access.transfer"]
    assert seen["ledger_index"] == listed["fetch_ledger_index"]
    assert seen["recipient"] == "stuttgart-rnd" and seen["purpose"] == "data_portability"
    assert "contact.phone" in seen["released"]
