"""A gateway whose clock the test moves: `python -m tests.e2e.clocked_gateway` (test suite only).

It is `consentry serve` for one process, with two differences that exist only here, in the test suite: the
runtime's clock is a `SettableClock`, and `PUT /test/clock {"now": RFC 3339}` sets it. Production code has
neither, so no deployment can be made to travel in time. `start_clocked_gateway` starts one like
`start_gateway` does and returns the same `Gateway` handle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import APIRouter, Body, Request

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.web.observability import configure_logging
from tests.e2e.conftest import Gateway, _free_port, _wait_ready
from tests.support.clock import SettableClock

REPO = Path(__file__).resolve().parents[2]


clock_router = APIRouter(include_in_schema=False)


@clock_router.put("/test/clock")
def set_clock(request: Request, now: str = Body(embed=True)) -> dict[str, str]:
    clock = request.app.state.runtime.clock
    clock.set(datetime.fromisoformat(now))
    return {"now": clock.now().isoformat()}


@clock_router.get("/test/clock")
def read_clock(request: Request) -> dict[str, str]:
    return {"now": request.app.state.runtime.clock.now().isoformat()}


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    runtime = Runtime.start(settings)
    runtime.clock = SettableClock()
    try:
        app = create_app(settings, runtime=runtime, extra_routers=[clock_router])
        uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    finally:
        runtime.close()


def start_clocked_gateway(tmp_path: Path, name: str, **env: str) -> Gateway:
    """Start one (stop it with `stop_gateway`); `env` as for `start_gateway`."""
    port = _free_port()
    data_dir = tmp_path / f"data-{name}"
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
        **{f"CONSENTRY_{key.upper()}": value for key, value in env.items()},
    }
    database_url = environment.get("CONSENTRY_DATABASE_URL") or f"sqlite:///{(data_dir / 'consentry.db').resolve()}"
    log_path = tmp_path / f"gateway-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.clocked_gateway"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", data_dir, database_url, log_path, process)
    _wait_ready(gateway, deadline_s=120)
    return gateway


def move_clock(gateway: Gateway, moment: datetime) -> None:
    response = httpx.put(f"{gateway.base_url}/test/clock", json={"now": moment.isoformat()}, timeout=30)
    assert response.status_code == 200, response.text


if __name__ == "__main__":
    main()
