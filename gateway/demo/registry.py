"""The demo's upstream registration (``upstreams.yaml``), pointed at wherever its source systems run.

It registers three sources: the vehicle cloud, the billing/loyalty system and the insurer. A setup that runs
only the vehicle cloud (most tests, the benchmarks) registers only that one, so no source is registered that
nobody serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gateway.upstream import UpstreamConfig, load_upstreams

__all__ = [
    "BILLING",
    "DEMO_UPSTREAMS_PATH",
    "INSURER",
    "VEHICLE_CLOUD",
    "demo_categories",
    "demo_registry_document",
    "demo_upstreams",
    "write_demo_registry",
]

DEMO_UPSTREAMS_PATH = Path(__file__).with_name("upstreams.yaml")
VEHICLE_CLOUD = "vehicle-cloud"
BILLING = "billing"
INSURER = "insurer"


def demo_categories() -> list[str]:
    """The data categories of the vehicle cloud's customer record, in sorted order (its field map names them)."""
    return sorted(load_upstreams(DEMO_UPSTREAMS_PATH)[VEHICLE_CLOUD].field_map.categories)


def demo_registry_document(urls: Mapping[str, str]) -> dict[str, Any]:
    """The registry document with exactly the sources named in `urls` (name -> base URL), in the file's order."""
    document: dict[str, Any] = yaml.safe_load(DEMO_UPSTREAMS_PATH.read_text())
    unknown = set(urls) - {entry["name"] for entry in document["upstreams"]}
    if unknown:
        raise KeyError(f"the demo registers no source {sorted(unknown)}")
    document["upstreams"] = [dict(e, base_url=urls[e["name"]]) for e in document["upstreams"] if e["name"] in urls]
    return document


def write_demo_registry(path: Path, urls: Mapping[str, str]) -> Path:
    """Write `demo_registry_document(urls)` as YAML to `path` (for `CONSENTRY_UPSTREAMS_PATH`)."""
    path.write_text(yaml.safe_dump(demo_registry_document(urls)))
    return path


def demo_upstreams(
    vehicle_cloud_url: str | None = None, *, billing_url: str | None = None, insurer_url: str | None = None
) -> dict[str, UpstreamConfig]:
    """The vehicle cloud's registration (``vehicle_cloud_url`` replaces its base URL), and billing's and the
    insurer's when their URLs are given."""
    configs = load_upstreams(DEMO_UPSTREAMS_PATH)
    chosen: dict[str, UpstreamConfig] = {}
    for name, url in ((VEHICLE_CLOUD, vehicle_cloud_url), (BILLING, billing_url), (INSURER, insurer_url)):
        if name != VEHICLE_CLOUD and url is None:
            continue
        config = configs[name]
        chosen[name] = (
            config if url is None else UpstreamConfig.model_validate({**config.model_dump(), "base_url": url})
        )
    return chosen
