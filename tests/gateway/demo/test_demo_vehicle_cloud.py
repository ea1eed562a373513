"""The bundled demo upstream, its registration, and the ways to run it, over real HTTP."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from gateway.demo import (
    DEMO_CUSTOMERS,
    DEMO_UPSTREAMS_PATH,
    VEHICLE_CLOUD,
    BackgroundServer,
    ServerStartError,
    VehicleCloudProcess,
    create_vehicle_cloud_app,
    demo_upstreams,
    run_vehicle_cloud,
)
from gateway.upstream import CategoryStatus, filter_document, load_upstreams

# The policies taxonomy ids the demo relies on (issue 4, "The demo").
DEMO_CATEGORIES = {
    "identity.name",
    "contact.phone",
    "contact.email",
    "identity.national_id",
    "profile.birth_date",
    "financial.income",
    "vehicle.vin",
    "vehicle.mileage",
    "vehicle.fault_codes",
    "location.precise",
    "location.city",
    "behavior.driving",
}


@pytest.fixture
def server(free_port: int) -> Any:
    with run_vehicle_cloud(free_port) as running:
        yield running


def test_customer_records_have_the_demo_fields(server: BackgroundServer) -> None:
    record = httpx.get(f"{server.url}/customers/cust-1001").json()
    assert set(record) >= {"name", "phone", "national_id", "vehicle", "location", "driving", "birth_date"}
    assert record["vehicle"]["fault_codes"] == ["P0301", "P0420"]
    assert set(record["location"]) >= {"lat", "lon"}
    assert isinstance(record["driving"]["trips"], list)
    assert record["annual_income"]["currency"] == "CNY"
    assert sorted(DEMO_CUSTOMERS) == ["cust-1001", "cust-1002", "cust-1003", "cust-1004", "cust-1005"]


def test_unknown_customer_is_a_problem_json_404(server: BackgroundServer) -> None:
    response = httpx.get(f"{server.url}/customers/cust-0000")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_delete_erases_once_and_instances_are_independent(server: BackgroundServer, free_port: int) -> None:
    url = f"{server.url}/customers/cust-1003"
    assert httpx.delete(url).status_code == 204
    assert httpx.get(url).status_code == 404
    assert httpx.delete(url).status_code == 404
    assert server.app.state.hits["DELETE /customers/cust-1003"] == 2  # type: ignore[attr-defined]
    assert "cust-1003" in DEMO_CUSTOMERS
    assert "cust-1003" in create_vehicle_cloud_app().state.customers


def test_registration_covers_every_field_but_the_deliberately_unmapped_one() -> None:
    config = load_upstreams(DEMO_UPSTREAMS_PATH)[VEHICLE_CLOUD]
    assert config.field_map.categories == DEMO_CATEGORIES
    assert config.supports_erasure
    for customer, record in DEMO_CUSTOMERS.items():
        result = filter_document(record, config.field_map, DEMO_CATEGORIES)
        assert all(p.startswith("/telematics_unit/") for p in result.unmapped), customer
        assert result.withheld_leaves == 0
        assert result.document == {k: v for k, v in record.items() if k != "telematics_unit"}


def test_demo_story_dealership_sees_vin_and_fault_codes_but_not_the_national_id() -> None:
    config = demo_upstreams()[VEHICLE_CLOUD]
    released = {"identity.name", "contact.phone", "vehicle.vin", "vehicle.mileage", "vehicle.fault_codes"}
    result = filter_document(DEMO_CUSTOMERS["cust-1001"], config.field_map, released)
    assert result.document == {
        "name": "Li Wei",
        "phone": "+86 138 0013 8001",
        "vehicle": {"vin": "LSVAU2180N2183294", "mileage_km": 38210, "fault_codes": ["P0301", "P0420"]},
    }
    assert result.categories["identity.national_id"] is CategoryStatus.WITHHELD
    assert "identity.national_id" in result.withheld_categories


def test_trip_endpoints_need_precise_location_as_well_as_driving_behaviour() -> None:
    config = demo_upstreams()[VEHICLE_CLOUD]
    result = filter_document(DEMO_CUSTOMERS["cust-1001"], config.field_map, {"behavior.driving"})
    trips = result.document["driving"]["trips"]
    assert [set(t) for t in trips] == [{"started_at", "distance_km", "duration_min", "harsh_brakes"}] * 2
    assert result.categories["location.precise"] is CategoryStatus.WITHHELD


def test_demo_registration_points_at_the_running_vehicle_cloud(server: BackgroundServer) -> None:
    config = demo_upstreams(server.url)[VEHICLE_CLOUD]
    assert config.base_url == server.url
    assert load_upstreams(DEMO_UPSTREAMS_PATH)[VEHICLE_CLOUD].base_url == "http://127.0.0.1:8701"


def test_background_server_refuses_a_port_in_use(free_port: int) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        with pytest.raises(ServerStartError):
            BackgroundServer(create_vehicle_cloud_app(), port=free_port, startup_timeout=3).start()


@pytest.mark.slow
def test_vehicle_cloud_runs_in_its_own_process_and_stops(free_port: int) -> None:
    with VehicleCloudProcess(port=free_port) as process:
        assert httpx.get(f"{process.url}/customers/cust-1002").json()["name"] == "Anna Schmidt"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{free_port}/healthz")


def test_vehicle_cloud_process_refuses_a_port_in_use(free_port: int) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        with pytest.raises(ServerStartError, match="already in use"):
            VehicleCloudProcess(port=free_port).start()
