"""Password sign-in against callers with no account, over real HTTP against `consentry serve`.

- An outsider who knows a customer's username locks only themselves out: the lockout counts per
  (username, address), and the customer signing in from elsewhere gets in.
- Parallel guesses cannot outrun the lockout: the failure is reserved before the password is checked, so 30
  parallel guesses get exactly `CONSENTRY_LOGIN_MAX_FAILURES` real checks (401) and 429 for the rest, never a
  500 (they used to get 26 checks and 4 × 500 `database is locked`).
- A flood of 200 concurrent sign-ins from 50 addresses (argon2id, 64 MiB each) keeps `/healthz` answering
  within 1 s and the server under 500 MiB: a few hashes run at once, a few more wait, the rest get 429 with
  Retry-After at once (it used to take 2.26 GiB and stall `/healthz` for 9.4 s). The health probe runs in its
  own process, so the flood's client does not slow the probe down.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.conftest import CUSTOMER_PASSWORD, Gateway
from tests.e2e.test_credentials_api import assert_problem

WRONG = "not the password at all"


def _from(gateway: Gateway, address: str) -> httpx.Client:
    return gateway.client(transport=httpx.HTTPTransport(local_address=address))


def _sign_in(http: httpx.Client, username: str, password: str) -> httpx.Response:
    return http.post("/v1/session", json={"username": username, "password": password})


def test_an_outsider_cannot_lock_a_customer_out(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(login_max_failures="5")
    gateway.enrol("li.wei")
    with _from(gateway, "127.0.0.2") as outsider:
        for _ in range(5):
            assert_problem(_sign_in(outsider, "li.wei", WRONG), 401, "invalid-credentials")
        locked = _sign_in(outsider, "li.wei", CUSTOMER_PASSWORD)
        assert_problem(locked, 429, "login-locked")
        assert int(locked.headers["Retry-After"]) > 0
    with _from(gateway, "127.0.0.3") as customer:
        assert _sign_in(customer, "li.wei", CUSTOMER_PASSWORD).status_code == 200


def test_parallel_guesses_get_no_more_checks_than_the_lockout_allows(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(login_max_failures="5", password_check_queue="64")
    gateway.enrol("li.wei")

    def guess(_: int) -> int:
        with _from(gateway, "127.0.0.4") as http:
            return _sign_in(http, "li.wei", WRONG).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = Counter(pool.map(guess, range(30)))
    assert statuses == {401: 5, 429: 25}, statuses
    assert "database is locked" not in gateway.logs()


PROBE = """
import json, sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
latencies, failures = [], 0
end = time.monotonic() + seconds
with httpx.Client(timeout=30) as http:
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            ok = http.get(url).status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.monotonic() - started)
        failures += not ok
        time.sleep(0.05)
print(json.dumps({"latencies": latencies, "failures": failures}))
"""


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


async def _sign_in_raw(port: int, address: str, username: str) -> tuple[int, dict[str, str]]:
    """One sign-in over a plain socket: the flood's own client must not eat the CPU the server is tested on."""
    body = json.dumps({"username": username, "password": WRONG}).encode()
    head = (
        f"POST /v1/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    try:
        writer.write(head + body)
        answer = await reader.read()
    finally:
        writer.close()
    lines = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split(" ")[1]), headers


async def _flood(gateway: Gateway, total: int, addresses: int) -> Counter[int]:
    """`total` sign-ins of unknown usernames at once, spread over `addresses` loopback addresses."""
    port = int(gateway.base_url.rsplit(":", 1)[1])
    answers = await asyncio.gather(
        *(_sign_in_raw(port, f"127.0.1.{n % addresses + 1}", f"nobody.{n}") for n in range(total))
    )
    for status, headers in answers:
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            assert headers["content-type"] == "application/problem+json"
    return Counter(status for status, _ in answers)


def test_200_concurrent_sign_ins_keep_healthz_answering_and_memory_bounded(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway()
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, f"{gateway.base_url}/healthz", "20"], stdout=subprocess.PIPE, text=True
    )
    statuses = asyncio.run(_flood(gateway, total=200, addresses=50))
    out, _ = probe.communicate(timeout=120)
    health = json.loads(out)
    peak = _peak_rss_mib(gateway.process.pid)
    print(f"statuses {dict(statuses)}; healthz max {max(health['latencies']):.3f} s; peak RSS {peak:.0f} MiB")
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[429] > 0  # the gate refused what it could not queue
    assert health["failures"] == 0
    assert max(health["latencies"]) < 1.0
    assert peak < 500


def test_every_password_secret_and_signature_check_shares_one_allowance_of_the_process(
    start_gateway: Callable[..., Gateway],
) -> None:
    """Many addresses together cannot run more checks than the process allows: sign-ins, client secrets
    (token, introspection, revocation) and wallet signatures (one per login challenge) draw on one allowance."""
    gateway = start_gateway(credential_check_burst="4", credential_check_rate="0.01")
    secret = gateway.register("crm", ["crm"], ["proxy"])
    assert secret
    with _from(gateway, "127.0.0.11") as first:
        assert _sign_in(first, "nobody.here", WRONG).status_code == 401
    with _from(gateway, "127.0.0.12") as second:
        assert (
            second.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("crm", secret)).status_code
            == 200
        )
    with _from(gateway, "127.0.0.13") as third:
        assert third.post("/oauth/introspect", data={"token": "x"}, auth=("crm", secret)).status_code == 200
    with _from(gateway, "127.0.0.14") as fourth:
        assert fourth.post("/v1/session/did/challenge").status_code in (200, 201)
    for address, attempt in [
        ("127.0.0.15", lambda http: _sign_in(http, "li.wei", CUSTOMER_PASSWORD)),
        (
            "127.0.0.16",
            lambda http: http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("crm", secret)),
        ),
        ("127.0.0.17", lambda http: http.post("/oauth/revoke", data={"token": "x"}, auth=("crm", secret))),
        ("127.0.0.18", lambda http: http.post("/v1/session/did/challenge")),
    ]:
        with _from(gateway, address) as fresh:
            refused = attempt(fresh)
        assert_problem(refused, 429, "too-many-requests")
        assert int(refused.headers["Retry-After"]) >= 1
