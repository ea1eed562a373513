"""The consentry wheel ships the service and the libraries, never the benchmarks; the benchmarks are their own
distribution in the source tree, and `consentry bench` runs them from a dev install (`make install`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.bench import NOT_INSTALLED
from tests.packaging.project import ROOT, runtime_packages

BENCHMARKS = ROOT / "benchmarks"
_NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "data", "tests", "docs"
)


@pytest.mark.slow
def test_the_wheel_holds_the_runtime_packages_and_no_benchmarks(tmp_path: Path) -> None:
    source, out = tmp_path / "source", tmp_path / "wheels"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    offline = ("--no-deps", "--no-build-isolation", "--no-index")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", *offline, "-w", str(out), str(source)], check=True)
    (wheel,) = out.glob("consentry-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == set(runtime_packages())
    assert "benchmarks" not in top_level


def _benchmark_names() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def test_the_installed_command_finds_every_benchmark_outside_the_checkout(tmp_path: Path) -> None:
    """Run from another directory, so only the installation (not the current directory) can supply them."""
    consentry = Path(sys.executable).with_name("consentry")
    result = subprocess.run([consentry, "bench", "no-such-bench"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert f"available: {', '.join(_benchmark_names())}" in result.stderr


@pytest.mark.slow
def test_a_benchmark_runs_from_the_dev_install(tmp_path: Path) -> None:
    consentry = Path(sys.executable).with_name("consentry")
    result = subprocess.run(
        [consentry, "bench", "zk", "--quick", "--json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "iterations" in json.loads(result.stdout)


def test_without_the_benchmarks_the_command_says_where_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation from the wheel alone: the command explains instead of failing on an import."""
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "benchmarks", None)
    result = CliRunner().invoke(app, ["bench", "zk"])
    assert result.exit_code == 2
    assert NOT_INSTALLED in result.output
