"""What pyproject.toml and requirements.lock declare, read once for the packaging tests."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_packages() -> list[str]:
    """The top-level packages the consentry wheel ships: directories matching the setuptools `include` patterns."""
    patterns = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    )


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in pyproject()["project"]["dependencies"]]


def dev_requirements() -> list[Requirement]:
    return [Requirement(text) for text in pyproject()["project"]["optional-dependencies"]["dev"]]


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]


_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


@cache
def lock_pins() -> dict[str, Pin]:
    """The lock's entries by canonical name; each `name==version [; marker]` line is followed by its hashes."""
    entries: list[tuple[str, str, Marker | None, list[str]]] = []
    for line in LOCK.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            assert entries, f"a hash before any entry: {line!r}"
            entries[-1][3].append(stripped.removeprefix("--hash=").rstrip(" \\"))
            continue
        match = _ENTRY.match(stripped)
        assert match, f"not a pinned entry: {line!r}"
        marker = Marker(match["marker"]) if match["marker"] else None
        entries.append((canonicalize_name(match["name"]), match["version"], marker, []))
    return {name: Pin(name, version, marker, tuple(hashes)) for name, version, marker, hashes in entries}
