"""Shared fixtures: real databases, and the rule that under CONSENTRY_REQUIRE_ALL nothing may skip."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REQUIRE_ALL = os.environ.get("CONSENTRY_REQUIRE_ALL") == "1"

# Shared, noisy machines: no test may depend on wall-clock speed, hypothesis deadlines included.
settings.register_profile("consentry", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile("consentry")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """CI installs every component; a skip there means a test silently did not run, so it fails."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CONSENTRY_REQUIRE_ALL=1: {reason}"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`consentry serve` configures process-wide logging; one test's server must not leak into the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def _postgres_admin_url() -> str:
    url = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "PostgreSQL test: set CONSENTRY_TEST_POSTGRES_URL "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres; install postgresql)"
        )
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A freshly created, uniquely named PostgreSQL database, dropped afterwards."""
    admin_url = make_url(_postgres_admin_url())
    name = f"consentry_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there: say what to install
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An embedded SQLite database file in the test's own directory."""
    return f"sqlite:///{tmp_path / 'consentry.db'}"


@pytest.fixture
def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
