"""Run an ASGI app with uvicorn on a loopback port, in a background thread or in a child process.

A thread is cheapest for tests (the app object, and its hit counters, stay reachable). A separate process
is what a benchmark needs, so the upstream does not share the load generator's interpreter lock.
Both wait until the server accepts connections before returning, and both stop only what they started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

from gateway.demo.vehicle_cloud import create_vehicle_cloud_app

__all__ = [
    "BackgroundServer",
    "ServerProcess",
    "ServerStartError",
    "VehicleCloudProcess",
    "free_port",
    "run_vehicle_cloud",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A port the operating system just had free on `host` (for servers whose port nobody chose)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerStartError(RuntimeError):
    """The server did not start accepting connections in time."""


def _wait_for_port(host: str, port: int, deadline: float, process: subprocess.Popen[bytes]) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(f"server on {host}:{port} exited before accepting connections")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise ServerStartError(f"server on {host}:{port} did not accept connections in time")


class BackgroundServer:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread; use as a context manager."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        port: int,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
        lifespan: Literal["auto", "on", "off"] = "auto",
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._startup_timeout = startup_timeout
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan=lifespan)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{port}", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run()
        except SystemExit:
            # uvicorn exits when it cannot bind; start() reports that as ServerStartError
            return

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start serving (once; later calls return at once) and wait until uvicorn has bound the port."""
        if self._thread.ident is not None:
            return self
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerStartError(f"server on {self.host}:{self.port} failed to start (port in use?)")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"server on {self.host}:{self.port} did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_vehicle_cloud(port: int, host: str = "127.0.0.1") -> BackgroundServer:
    """Start a fresh demo vehicle cloud in a background thread; its app is ``server.app``."""
    return BackgroundServer(create_vehicle_cloud_app(), port=port, host=host).start()


class ServerProcess:
    """``python -m MODULE --host H --port P [ARGS]``, a server in its own Python process."""

    def __init__(
        self,
        module: str,
        *,
        port: int,
        host: str = "127.0.0.1",
        args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`env` adds to the environment the process inherits (for secrets that do not belong on a command line)."""
        self.module = module
        self.env = dict(env or {})
        self.host = host
        self.port = port
        self.args = tuple(args)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> Self:
        """Start the process (once) and wait until it accepts connections; the port must be free."""
        if self._process is not None:
            return self
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                raise ServerStartError(f"port {self.host}:{self.port} is already in use")
        except OSError:
            pass
        command = [sys.executable, "-m", self.module, "--host", self.host, "--port", str(self.port), *self.args]
        environment = {**os.environ, **self.env}
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=environment)  # noqa: S603 (our module)
        try:
            _wait_for_port(self.host, self.port, time.monotonic() + self._startup_timeout, self._process)
        except ServerStartError:
            self.stop()
            raise
        return self

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Send the process `signum` (the one the demo itself received) and wait for it; kill it if it lingers."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class VehicleCloudProcess(ServerProcess):
    """The demo vehicle cloud in its own Python process (``python -m gateway.demo``)."""

    def __init__(
        self, *, port: int, host: str = "127.0.0.1", startup_timeout: float = 20.0, args: Sequence[str] = ()
    ) -> None:
        super().__init__("gateway.demo", port=port, host=host, startup_timeout=startup_timeout, args=args)
