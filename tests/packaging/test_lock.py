"""One lock file: every third-party package pinned with hashes, every declared requirement in it, the Makefile
installing from it, and this environment being exactly what it pins."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.packaging.project import LOCK, ROOT, dev_requirements, lock_pins, runtime_requirements


def test_every_entry_is_pinned_with_hashes() -> None:
    pins = lock_pins()
    assert pins, f"{LOCK.name} pins nothing"
    unhashed = sorted(name for name, pin in pins.items() if not pin.hashes)
    assert not unhashed, f"entries without hashes: {unhashed}"
    assert all(h.startswith("sha256:") for pin in pins.values() for h in pin.hashes)


@pytest.mark.parametrize(
    "requirement", [*runtime_requirements(), *dev_requirements()], ids=lambda requirement: requirement.name
)
def test_every_declared_requirement_is_locked_within_its_range(requirement: Requirement) -> None:
    pin = lock_pins().get(canonicalize_name(requirement.name))
    assert pin is not None, f"{requirement} is declared in pyproject.toml but not locked: run `make lock`"
    assert requirement.specifier.contains(pin.version, prereleases=True), (
        f"{LOCK.name} pins {pin.name}=={pin.version}, outside the declared {requirement}: run `make lock`"
    )


def test_the_makefile_installs_the_lock_with_hashes_and_resolves_nothing_else() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if re.search(r"\bpip install\b", line)]
    assert any("--require-hashes" in line and "-r $(LOCK)" in line for line in installs), installs
    assert "LOCK := requirements.lock" in makefile
    for line in installs:
        if "-r $(LOCK)" in line or line.endswith("--upgrade pip"):
            continue
        assert "--no-deps" in line, f"this install would resolve packages outside the lock: {line}"


def test_this_environment_runs_the_locked_versions() -> None:
    """The suite passes with what the lock pins, so it must be running with exactly that."""
    drift = []
    for name, pin in sorted(lock_pins().items()):
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name}: not installed (lock: {pin.version})")
            continue
        if Version(installed) != Version(pin.version):
            drift.append(f"{name}: {installed} installed, lock pins {pin.version}")
    assert not drift, "reinstall with `make install`: " + "; ".join(drift)
