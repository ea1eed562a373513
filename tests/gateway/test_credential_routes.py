"""The VC API routes in process: caps hold for streamed bodies, documents come from the issuer keyring,
and every self-read request body is documented without dangling schema references."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.cli.openapi import openapi_document
from gateway.routers.credentials import VERIFY_MAX_BYTES
from gateway.runtime import Runtime
from gateway.settings import Settings


@pytest.fixture
def http(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client


def test_a_chunked_body_is_cut_off_at_the_verification_cap(http: TestClient) -> None:
    """No Content-Length to refuse up front: the cap is counted while the body streams in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"verifiableCredential": {"padding": "'
        for _ in range(VERIFY_MAX_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    response = http.post("/credentials/verify", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["max_bytes"] == VERIFY_MAX_BYTES


def test_deeply_nested_json_is_a_400_not_a_crash(http: TestClient) -> None:
    body = b'{"verifiableCredential": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = http.post("/credentials/verify", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text


def test_did_json_is_the_keyring_document(http: TestClient, runtime: Runtime) -> None:
    document = http.get("/.well-known/did.json").json()
    assert document == runtime.credentials.did_document()
    assert document["id"] == "did:web:127.0.0.1%3A8000"


def test_status_lists_are_served_at_the_prefix_receipts_point_to(http: TestClient, runtime: Runtime) -> None:
    runtime.credentials.repository.create_list(f"{runtime.settings.issuer}/v1/status-lists/1")
    listed = http.get("/v1/status-lists/1")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/vc+ld+json"
    assert listed.json()["id"] == "http://127.0.0.1:8000/v1/status-lists/1"
    assert http.get("/v1/status-lists/0").status_code == 422


def test_self_read_bodies_are_documented_inline() -> None:
    document = openapi_document()
    for path in ("/credentials/issue", "/credentials/verify", "/presentations/verify", "/v1/session/did"):
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["type"] == "object" and schema["properties"]
        assert "#/$defs/" not in json.dumps(schema)
    status = document["paths"]["/credentials/status"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [sorted(alternative["required"]) for alternative in status["oneOf"]] == [
        ["credentialId", "credentialStatus", "status"],
        ["status", "verifiableCredential"],
    ]
    assert "#/$defs/" not in json.dumps(status)


def test_the_document_describes_the_vc_api_shapes() -> None:
    """VC API: verification answers carry `verified` and RFC 9457 `problemDetails`; challenges are issued."""
    document = openapi_document()
    for path in ("/credentials/verify", "/presentations/verify"):
        answer = document["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        report = document["components"]["schemas"][answer["$ref"].rsplit("/", 1)[1]]
        assert {"verified", "checks", "warnings", "problemDetails"} <= set(report["required"])
        assert "400" in document["paths"][path]["post"]["responses"]
    challenge = document["paths"]["/challenges"]["post"]["responses"]["200"]["content"]["application/json"]
    assert challenge["schema"]["$ref"].endswith("/Challenge")
    issue = document["paths"]["/credentials/issue"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"cryptosuite", "credentialId"} <= set(issue["properties"]["options"]["properties"])
