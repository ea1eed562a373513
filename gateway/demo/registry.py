"""The demo's upstream registration (``upstreams.yaml``), pointed at wherever the vehicle cloud runs."""

from __future__ import annotations

from pathlib import Path

from gateway.upstream import UpstreamConfig, load_upstreams

__all__ = ["DEMO_UPSTREAMS_PATH", "VEHICLE_CLOUD", "demo_categories", "demo_upstreams"]

DEMO_UPSTREAMS_PATH = Path(__file__).with_name("upstreams.yaml")
VEHICLE_CLOUD = "vehicle-cloud"


def demo_categories() -> list[str]:
    """The data categories of the vehicle cloud's customer record, in sorted order (its field map names them)."""
    return sorted(load_upstreams(DEMO_UPSTREAMS_PATH)[VEHICLE_CLOUD].field_map.categories)


def demo_upstreams(vehicle_cloud_url: str | None = None) -> dict[str, UpstreamConfig]:
    """The bundled registry; ``vehicle_cloud_url`` replaces the vehicle cloud's base URL (its port varies)."""
    configs = load_upstreams(DEMO_UPSTREAMS_PATH)
    if vehicle_cloud_url is not None:
        data = configs[VEHICLE_CLOUD].model_dump()
        data["base_url"] = vehicle_cloud_url
        configs[VEHICLE_CLOUD] = UpstreamConfig.model_validate(data)
    return configs
