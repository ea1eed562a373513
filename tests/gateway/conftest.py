"""In-process fixtures: a started runtime on a temporary data directory, and a TestClient around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.runtime import Runtime
from gateway.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", issuer="http://127.0.0.1:8000")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    started = Runtime.start(settings)
    try:
        yield started
    finally:
        started.close()
