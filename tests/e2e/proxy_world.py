"""A seeded gateway in front of a real vehicle-cloud process, for the proxy's end-to-end tests.

`seeded_data_dir` enrols the demo customers, clients and consents into a fresh data directory through a
short-lived runtime (as `consentry demo` does) and writes the upstream registry pointing at the vehicle
cloud; the gateway subprocess then starts on that directory.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.demo.registry import VEHICLE_CLOUD, write_demo_registry
from gateway.demo.seed import DemoWorld, seed_demo
from gateway.runtime import Runtime
from gateway.settings import Settings


def write_upstreams(path: Path, vehicle_cloud_url: str) -> Path:
    return write_demo_registry(path, {VEHICLE_CLOUD: vehicle_cloud_url})


def seed_data_dir(
    data_dir: Path, vehicle_cloud_url: str, database_url: str | None = None, *, fleet: bool = False
) -> tuple[DemoWorld, Path]:
    upstreams = write_upstreams(data_dir.parent / f"{data_dir.name}-upstreams.yaml", vehicle_cloud_url)
    runtime = Runtime.start(Settings(data_dir=data_dir, database_url=database_url, upstreams_path=upstreams))
    try:
        world = seed_demo(runtime, fleet=fleet)
    finally:
        runtime.close()
    return world, upstreams


def token(base_url: str, world: DemoWorld, client_id: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = httpx.post(
        f"{base_url}/oauth/token", data=data, auth=(client_id, world.client_secrets[client_id]), timeout=30
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
