"""The portal in a real browser: Debian's Chromium driven by Playwright against `consentry serve`.

One gateway process (uvicorn, its own SQLite database, the demo vehicle cloud as its upstream) serves the
whole session and one browser each test module; each test gets a fresh browser context (its own cookies).
Nothing is downloaded: Playwright launches `/usr/bin/chromium`; axe-core comes bundled with
axe-playwright-python.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.auth.clients import ClientRegistry
from gateway.auth.custody import CustodyVault
from gateway.auth.customers import CustomerStore
from gateway.demo import run_vehicle_cloud
from gateway.demo.registry import demo_upstreams
from gateway.runtime import key_store
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from tests.browser.portal import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONSENTRY = str(Path(sys.executable).with_name("consentry"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PortalServer:
    """The running gateway, and how to reach its database and the demo upstream behind it."""

    base_url: str
    database_url: str
    data_dir: Path
    log_path: Path
    vehicle_cloud_url: str

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def enrol(
        self,
        username: str,
        display_name: str,
        jurisdiction: str = "CN",
        *,
        source_subject: str | None = None,
        did: str | None = None,
        customer_type: str = "standard",
    ) -> str:
        """A customer with the shared test password; `source_subject` links them to a vehicle cloud record.
        Enrolled with the server's custody key, as `consentry customer add` does, so one without a wallet
        `did` gets a custodial did:key at once."""
        keys = key_store(Settings(data_dir=self.data_dir, issuer=self.base_url))
        engine = create_db_engine(self.database_url)
        try:
            customer = CustomerStore(engine, CustodyVault.from_secret(keys.secret("custody"))).create(
                username=username,
                password=PASSWORD,
                display_name=display_name,
                jurisdiction=jurisdiction,
                source_subject=source_subject,
                did=did,
                customer_type=customer_type,
            )
        finally:
            engine.dispose()
        return customer.customer_id

    def crm_token(
        self, client_id: str, organization: str, purposes: list[str], scopes: tuple[str, ...] = ("proxy",)
    ) -> str:
        """Register a CRM client of `organization` straight in the server's database and get it a token."""
        engine = create_db_engine(self.database_url)
        try:
            _, secret = ClientRegistry(engine).register(
                client_id=client_id,
                name=client_id,
                organization=organization,
                roles=["crm"],
                scopes=list(scopes),
                allowed_purposes=purposes,
                jurisdiction="CN",
            )
        finally:
            engine.dispose()
        assert secret is not None
        response = httpx.post(
            self.url("/oauth/token"), data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=30
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway did not become healthy:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    tmp = tmp_path_factory.mktemp("portal")
    cloud = run_vehicle_cloud(_free_port())
    upstreams = tmp / "upstreams.yaml"
    configs = demo_upstreams(cloud.url)
    upstreams.write_text(
        yaml.safe_dump({"upstreams": [config.model_dump(mode="json") for config in configs.values()]}),
        encoding="utf-8",
    )
    port = _free_port()
    data_dir = tmp / "data"
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        "CONSENTRY_UPSTREAMS_PATH": str(upstreams),
        "CONSENTRY_LOGIN_MAX_FAILURES": "3",
        "CONSENTRY_ANALYTICS_MIN_COHORT": "2",  # a statistic over the few customers a test enrols
    }
    environment.pop("CONSENTRY_DATABASE_URL", None)
    log_path = tmp / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log_path)
        yield PortalServer(
            base_url=base_url,
            database_url=f"sqlite:///{(data_dir / 'consentry.db').resolve()}",
            data_dir=data_dir,
            log_path=log_path,
            vehicle_cloud_url=cloud.url,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        cloud.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio loop running
    on this thread while it is open, and later modules on the same worker call asyncio.run()."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Any, portal_server: PortalServer) -> Iterator[Any]:
    """`new_page(locale)` opens a page in a fresh context (no cookies) whose browser speaks `locale`."""
    contexts: list[Any] = []

    def open_page(locale: str = "en-US", *, javascript: bool = True) -> Any:
        context = browser.new_context(
            locale=locale,
            java_script_enabled=javascript,
            base_url=portal_server.base_url,
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()
