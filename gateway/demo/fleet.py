"""The demo's fleet: vehicle-cloud customers whose vehicles the R&D partner studies through anonymous statistics.

Differentially private statistics need a cohort, so the demo's four people are joined by a fleet of customers
generated from a fixed seed (the same fleet on every run, so figures in the README can be reproduced). Each has
a vehicle model and its mileage, the attributes the vehicle cloud exports page by page for aggregates.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FLEET_MODELS", "FLEET_SIZE", "FleetMember", "fleet_customers", "fleet_members"]

FLEET_MODELS = ("Aurora", "Breeze", "Comet")
FLEET_SIZE = 40
# Typical yearly distance and age spread per model, so the per-model averages differ visibly.
_PROFILE = {"Aurora": (14_000, 5), "Breeze": (22_000, 4), "Comet": (9_000, 7)}


@dataclass(frozen=True)
class FleetMember:
    subject: str
    jurisdiction: str
    model: str
    mileage_km: int


def fleet_members(size: int = FLEET_SIZE, seed: int = 2026) -> list[FleetMember]:
    """`fleet-0001`..: mostly in CN, every fifth in DE, each with a model and a mileage."""
    rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
    members = []
    for number in range(1, size + 1):
        model = FLEET_MODELS[number % len(FLEET_MODELS)]
        per_year, max_age = _PROFILE[model]
        mileage = int(per_year * rng.uniform(0.5, max_age) + rng.uniform(0, 3_000))
        members.append(FleetMember(f"fleet-{number:04d}", "DE" if number % 5 == 0 else "CN", model, mileage))
    return members


def fleet_customers(size: int = FLEET_SIZE) -> dict[str, Mapping[str, Any]]:
    """The fleet's vehicle-cloud records."""
    return {
        m.subject: {
            "name": f"Fleet Customer {m.subject[-4:]}",
            "vehicle": {"vin": f"LFLEET{m.subject[-4:]:0>11}", "model": m.model, "mileage_km": m.mileage_km},
        }
        for m in fleet_members(size)
    }
