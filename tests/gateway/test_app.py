"""The app factory in process: 5xx hide internals, sessions expire, extra routers plug in."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from fastapi import APIRouter
from fastapi.testclient import TestClient

from gateway.app import SERVING_GC_THRESHOLDS, create_app
from gateway.runtime import Runtime
from gateway.settings import Settings


def test_an_unexpected_exception_is_a_500_problem_without_internals(settings: Settings) -> None:
    router = APIRouter()

    @router.get("/boom", summary="Fails", description="Raises on purpose.")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    app = create_app(settings, extra_routers=[router])
    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://consentry.dev/problems/internal"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


def test_sessions_expire(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, session_ttl_seconds=1)
    runtime = Runtime.start(settings)
    try:
        runtime.customers.create(
            username="short.lived", password="a long enough pw", display_name="", jurisdiction="CN"
        )
        with TestClient(create_app(settings, runtime=runtime)) as http:
            assert (
                http.post("/v1/session", json={"username": "short.lived", "password": "a long enough pw"}).status_code
                == 200
            )
            assert http.get("/v1/me").status_code == 200
            time.sleep(1.2)
            assert http.get("/v1/me").status_code == 401
    finally:
        runtime.close()


def test_cookies_are_secure_when_the_issuer_is_https(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, issuer="https://gateway.example.com")
    runtime = Runtime.start(settings)
    try:
        runtime.customers.create(username="secure.one", password="a long enough pw", display_name="", jurisdiction="CN")
        with TestClient(create_app(settings, runtime=runtime), base_url="https://gateway.example.com") as http:
            response = http.post("/v1/session", json={"username": "secure.one", "password": "a long enough pw"})
        assert "Secure" in response.headers["set-cookie"]
    finally:
        runtime.close()


def test_starting_twice_reuses_keys_and_schema(settings: Settings) -> None:
    first = Runtime.start(settings)
    kid = first.keys.ring("token").current_kid
    first.close()
    second = Runtime.start(settings)
    try:
        assert second.keys.ring("token").current_kid == kid
        assert second.migrated[-1] == "gateway"
    finally:
        second.close()


def test_a_serving_process_freezes_its_startup_heap_and_an_embedded_app_does_not(settings: Settings) -> None:
    """`consentry serve` moves what startup left alive out of the collector's reach, so a full collection no
    longer stops every request for the time it takes to walk the libraries, taxonomy and app, and collects young
    objects less often so in-flight requests' objects do not trigger a full collection twice a second."""
    gc.unfreeze()
    try:
        with TestClient(create_app(settings)):
            assert gc.get_freeze_count() == 0
        assert gc.get_threshold() != SERVING_GC_THRESHOLDS
        before = gc.get_threshold()
        with TestClient(create_app(settings, freeze_startup_heap=True)) as http:
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == SERVING_GC_THRESHOLDS
            assert http.get("/healthz").status_code == 200
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
