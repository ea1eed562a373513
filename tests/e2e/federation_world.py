"""Three source systems in their own processes (vehicle cloud, billing, insurer) and a seeded data directory
registering all three, for the federation tests (profile reads and change events)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.demo.registry import BILLING, INSURER, VEHICLE_CLOUD, write_demo_registry
from gateway.demo.seed import DemoWorld, seed_demo
from gateway.demo.server import ServerProcess, VehicleCloudProcess
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.e2e.conftest import _free_port


@dataclass
class Sources:
    processes: dict[str, ServerProcess]

    def urls(self) -> dict[str, str]:
        return {name: process.url for name, process in self.processes.items()}


@contextlib.contextmanager
def running_sources() -> Iterator[Sources]:
    """The three demo sources, each a separate Python process on a free port; stopped on exit."""
    processes: dict[str, ServerProcess] = {
        VEHICLE_CLOUD: VehicleCloudProcess(port=_free_port(), startup_timeout=60),
        BILLING: ServerProcess(
            "gateway.demo.partners", port=_free_port(), args=["--system", "billing"], startup_timeout=60
        ),
        INSURER: ServerProcess(
            "gateway.demo.partners", port=_free_port(), args=["--system", "insurer"], startup_timeout=60
        ),
    }
    try:
        for process in processes.values():
            process.start()
        yield Sources(processes)
    finally:
        for process in processes.values():
            process.stop()


def seed_federation(data_dir: Path, urls: dict[str, str], database_url: str | None = None) -> tuple[DemoWorld, Path]:
    """Seed the demo (customers, clients, consents, the unified index) and register the sources in `urls`."""
    upstreams = write_demo_registry(data_dir.parent / f"{data_dir.name}-upstreams.yaml", urls)
    runtime = Runtime.start(Settings(data_dir=data_dir, database_url=database_url, upstreams_path=upstreams))
    try:
        world = seed_demo(runtime)
    finally:
        runtime.close()
    return world, upstreams
