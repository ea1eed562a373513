"""A real gateway: `consentry serve` (uvicorn) in a subprocess on a free port, spoken to over real HTTP.

`start_gateway(**env)` starts one with a temporary data directory and waits for /healthz; `gateway` is a
session-wide instance with an admin, an auditor and a CRM client and a customer already enrolled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gateway.auth.clients import ClientRegistry
from gateway.auth.customers import CustomerStore
from gateway.store.database import create_db_engine

CONSENTRY = str(Path(sys.executable).with_name("consentry"))
CUSTOMER_PASSWORD = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    """A running server and the handles a test needs to reach it and its database."""

    base_url: str
    data_dir: Path
    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    secrets: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def register(self, client_id: str, roles: list[str], scopes: list[str], **kwargs: object) -> str | None:
        """Register a client straight in the server's database (as `consentry client add` would)."""
        engine = create_db_engine(self.database_url)
        try:
            _, secret = ClientRegistry(engine).register(
                client_id=client_id,
                name=client_id,
                organization=kwargs.pop("organization", f"{client_id} Ltd."),  # type: ignore[arg-type]
                roles=roles,
                scopes=scopes,
                jurisdiction=kwargs.pop("jurisdiction", "CN"),  # type: ignore[arg-type]
                **kwargs,  # type: ignore[arg-type]
            )
        finally:
            engine.dispose()
        if secret:
            self.secrets[client_id] = secret
        return secret

    def enrol(self, username: str, password: str = CUSTOMER_PASSWORD) -> str:
        engine = create_db_engine(self.database_url)
        try:
            customer = CustomerStore(engine).create(
                username=username, password=password, display_name=username, jurisdiction="CN"
            )
        finally:
            engine.dispose()
        return customer.customer_id

    def token(self, client_id: str, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        with self.client() as http:
            response = http.post("/oauth/token", data=data, auth=(client_id, self.secrets[client_id]))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def customer_session(self, username: str, password: str = CUSTOMER_PASSWORD) -> httpx.Client:
        http = self.client()
        response = http.post("/v1/session", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return http

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_ready(gateway: Gateway, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"gateway exited with {gateway.process.returncode}:\n{gateway.logs()}")
        try:
            if httpx.get(f"{gateway.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway did not become healthy:\n{gateway.logs()}")


def _stop(gateway: Gateway) -> None:
    if gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGTERM)
        try:
            gateway.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
            gateway.process.wait()


def serve_on(tmp: Path, port: int, **env: str) -> tuple[Gateway, dict[str, str]]:
    """`consentry serve` on embedded SQLite in `tmp/data`, on `port`; returns it ready, with its environment (the
    wallet and CLI commands run in it)."""
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(tmp / "data"),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        **env,
    }
    environment.pop("CONSENTRY_DATABASE_URL", None)
    log_path = tmp / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    database_url = f"sqlite:///{(tmp / 'data' / 'consentry.db').resolve()}"
    gateway = Gateway(f"http://127.0.0.1:{port}", tmp / "data", database_url, log_path, process)
    try:
        _wait_ready(gateway)
    except BaseException:
        _stop(gateway)
        raise
    return gateway, environment


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start gateways for this test; each is stopped when the test ends."""
    started: list[Gateway] = []

    def start(*, port: int | None = None, data_dir: Path | None = None, **env: str) -> Gateway:
        port = port or _free_port()
        data_dir = data_dir or tmp_path / f"data-{len(started)}"
        environment = {
            **os.environ,
            "CONSENTRY_DATA_DIR": str(data_dir),
            "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
            "CONSENTRY_PORT": str(port),
            **{f"CONSENTRY_{name.upper()}": value for name, value in env.items()},
        }
        database_url = environment.get("CONSENTRY_DATABASE_URL") or f"sqlite:///{(data_dir / 'consentry.db').resolve()}"
        log_path = tmp_path / f"gateway-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
        gateway = Gateway(f"http://127.0.0.1:{port}", data_dir, database_url, log_path, process)
        started.append(gateway)
        _wait_ready(gateway)
        return gateway

    try:
        yield start
    finally:
        for gateway in started:
            _stop(gateway)


@dataclass
class Actors:
    """The module gateway with one caller of each role."""

    gateway: Gateway
    admin: str
    auditor: str
    crm: str
    customer_id: str
    other_customer_id: str


@pytest.fixture(scope="session")
def actors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Actors]:
    tmp = tmp_path_factory.mktemp("gateway")
    port = _free_port()
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(tmp / "data"),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        "CONSENTRY_MAX_BODY_BYTES": "65536",
        "CONSENTRY_LOGIN_MAX_FAILURES": "3",
        # the session's tokens are minted once: they must outlive a slow suite on a loaded machine
        "CONSENTRY_ACCESS_TOKEN_TTL_SECONDS": "86400",
    }
    environment.pop("CONSENTRY_DATABASE_URL", None)
    log_path = tmp / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
    gateway = Gateway(
        f"http://127.0.0.1:{port}",
        tmp / "data",
        f"sqlite:///{(tmp / 'data' / 'consentry.db').resolve()}",
        log_path,
        process,
    )
    try:
        _wait_ready(gateway)
        gateway.register("admin", ["admin"], ["admin", "ledger:read"])
        gateway.register("auditor", ["auditor"], ["ledger:read"])
        gateway.register("crm", ["crm"], ["proxy", "zk"], allowed_purposes=["service-reminder"])
        yield Actors(
            gateway=gateway,
            admin=gateway.token("admin"),
            auditor=gateway.token("auditor"),
            crm=gateway.token("crm"),
            customer_id=gateway.enrol("li.wei"),
            other_customer_id=gateway.enrol("wang.fang"),
        )
    finally:
        _stop(gateway)
