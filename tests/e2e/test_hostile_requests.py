"""Hostile request heads and forged token claims, over real HTTP against `consentry serve`.

- A request head (request line and headers) beyond `CONSENTRY_MAX_REQUEST_HEAD_BYTES` is answered 431
  problem+json and the connection closed while the head is still arriving: a 64 MiB header used to be
  read whole (+124 MiB) and answered 200.
- A repeated `Consentry-Purpose` (or `Authorization`, `Idempotency-Key`) header is 400 `header-repeated`:
  the proxy used to take the first purpose silently.
- An access token signed with the gateway's own key but not yet valid (`nbf`) or claiming a lifetime the
  gateway never issues is refused like any other bad token.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.keys import KeyStore
from tests.e2e.conftest import Actors, Gateway
from tests.e2e.test_credentials_api import assert_problem

RECORD = "/v1/proxy/vehicle-cloud/customers/cust-1001"


def _raw_exchange(gateway: Gateway, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> tuple[bytes, int]:
    """Send `head`, then `body_chunks` x `chunk` while the server lets us; return (its answer, chunks sent)."""
    port = int(gateway.base_url.rsplit(":", 1)[1])
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for _ in range(body_chunks):
                sock.sendall(chunk)
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def _status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/problem+json" in head.lower()
    return status, json.loads(body)


def test_a_64_mib_header_is_refused_with_431_while_it_arrives(actors: Actors) -> None:
    """The attacker streams one endless header line; the server stops reading long before 64 MiB."""
    mib = b"a" * (1 << 20)
    answer, sent = _raw_exchange(actors.gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 64, mib)
    status, problem = _status_and_body(answer)
    assert status == 431
    assert problem["type"] == "https://consentry.dev/problems/request-header-fields-too-large"
    assert sent < 64, "the server read the whole 64 MiB header"
    assert httpx.get(f"{actors.gateway.base_url}/healthz", timeout=30).status_code == 200


def test_many_small_headers_over_the_limit_are_431_too(actors: Actors) -> None:
    headers = {f"x-filler-{n}": "v" * 100 for n in range(400)}  # ~44 KiB of head, each line harmless
    response = httpx.get(f"{actors.gateway.base_url}/healthz", headers=headers, timeout=30)
    assert_problem(response, 431, "request-header-fields-too-large")


def test_an_ordinary_head_is_served(actors: Actors) -> None:
    headers = {f"x-filler-{n}": "v" * 100 for n in range(100)}  # ~11 KiB: big, but within the limit
    assert httpx.get(f"{actors.gateway.base_url}/healthz", headers=headers, timeout=30).status_code == 200


def test_the_head_limit_is_a_setting(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(max_request_head_bytes="131072")
    headers = {f"x-filler-{n}": "v" * 100 for n in range(400)}
    assert httpx.get(f"{gateway.base_url}/healthz", headers=headers, timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("path", "header"),
    [
        (RECORD, "Consentry-Purpose"),
        ("/v1/decisions/vehicle-cloud/customers/cust-1001", "Consentry-Purpose"),
        ("/v1/analytics/queries", "Consentry-Purpose"),
        (RECORD, "Authorization"),
        ("/v1/me/consents", "Idempotency-Key"),
    ],
)
def test_a_repeated_purpose_or_credential_header_is_400(actors: Actors, path: str, header: str) -> None:
    values = {
        "Consentry-Purpose": ("service-reminder", "marketing"),
        "Authorization": (f"Bearer {actors.crm}", "Bearer forged"),
        "Idempotency-Key": ("key-1", "key-2"),
    }[header]
    headers = [("Authorization", f"Bearer {actors.crm}")] if header != "Authorization" else []
    headers += [(header, value) for value in values]
    with actors.gateway.client() as http:
        response = http.request("POST" if "analytics" in path else "GET", path, headers=headers)
    body = assert_problem(response, 400, "header-repeated")
    assert body["header"] == header.lower()


def _forged(key: ECKey, gateway: Gateway, **claims: int) -> str:
    now = int(time.time())
    payload = {
        "iss": gateway.base_url,
        "aud": gateway.base_url,
        "sub": "admin",
        "client_id": "admin",
        "scope": "admin ledger:read",
        "roles": ["admin"],
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, payload, key)


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": int(time.time()) + 3600},
        {"exp": int(time.time()) + 10 * 365 * 86_400},
        {"iat": int(time.time()) - 60, "exp": int(time.time()) + 86_400},
    ],
    ids=["not valid for another hour", "valid for ten years", "valid for a day"],
)
def test_tokens_not_yet_valid_or_living_longer_than_issued_are_refused(actors: Actors, claims: dict[str, int]) -> None:
    gateway = actors.gateway
    current = KeyStore(gateway.data_dir / "keys").ring("token").current
    key = ECKey.import_key(current.private_jwk(), parameters={"kid": current.kid})
    with gateway.client() as http:
        honest = http.get("/v1/admin/clients", headers={"Authorization": f"Bearer {_forged(key, gateway)}"})
        assert honest.status_code == 200, honest.text  # the forging is faithful: only the claim under test differs
        token = _forged(key, gateway, **claims)
        refused = http.get("/v1/admin/clients", headers={"Authorization": f"Bearer {token}"})
        introspected = http.post("/oauth/introspect", data={"token": token}, auth=("admin", gateway.secrets["admin"]))
    assert_problem(refused, 401, "invalid-token")
    assert introspected.json() == {"active": False}
