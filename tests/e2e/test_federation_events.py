"""Change events to recipients over real HTTP: a `consentry serve` gateway and the marketing agency's receiver,
each in its own process.

Issue 22, "Change events": a withdrawal reaches the recipient signed (verified with the gateway's published key),
the recipient confirms deletion through a ledgered call and the customer sees it; a tampered or foreign-signed
event is refused by the receiver; events survive the gateway being killed mid-delivery (none lost, a repeat
carries the same id, in order per customer); two gateway processes on one PostgreSQL deliver each event once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from sqlalchemy import create_engine, text

from gateway.demo.registry import VEHICLE_CLOUD, write_demo_registry
from gateway.demo.seed import DemoWorld, seed_demo
from gateway.demo.server import ServerProcess
from gateway.events import EVENT_ID_HEADER, EventSigner, consent_effect
from gateway.events.changes import CONSENT_WITHDRAWN
from gateway.keys import KeyStore, SigningKey
from gateway.runtime import Runtime
from gateway.settings import Settings
from ledger.b64 import b64url_encode
from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, _wait_ready
from tests.e2e.proxy_world import token


@dataclass
class Deployment:
    tmp: Path
    data_dir: Path
    upstreams: Path
    seeded: DemoWorld
    database_url: str | None

    def serve(self, port: int, **env: str) -> Gateway:
        environment = {
            **os.environ,
            "CONSENTRY_DATA_DIR": str(self.data_dir),
            "CONSENTRY_ISSUER": f"http://127.0.0.1:{port}",
            "CONSENTRY_PORT": str(port),
            "CONSENTRY_UPSTREAMS_PATH": str(self.upstreams),
            "CONSENTRY_EVENTS_POLL_SECONDS": "0.2",
            "CONSENTRY_EVENTS_BACKOFF_SECONDS": "0.2",
            "CONSENTRY_EVENTS_PRIVATE_ADDRESSES": "true",  # the receiver listens on 127.0.0.1
            **env,
        }
        environment.pop("CONSENTRY_DATABASE_URL", None)
        if self.database_url is not None:
            environment["CONSENTRY_DATABASE_URL"] = self.database_url
        log_path = self.tmp / f"gateway-{port}-{time.monotonic_ns()}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([CONSENTRY, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT)
        gateway = Gateway(
            f"http://127.0.0.1:{port}",
            self.data_dir,
            self.database_url or f"sqlite:///{self.data_dir / 'consentry.db'}",
            log_path,
            process,
        )
        _wait_ready(gateway, 120)
        return gateway

    def runtime(self) -> Runtime:
        return Runtime.start(
            Settings(data_dir=self.data_dir, database_url=self.database_url, upstreams_path=self.upstreams)
        )


def deploy(tmp: Path, database_url: str | None = None, *, fleet: bool = False) -> Deployment:
    data_dir = tmp / "data"
    # events need no source system: a registration pointing nowhere keeps erasure forwarding visible as failing
    upstreams = write_demo_registry(tmp / "upstreams.yaml", {VEHICLE_CLOUD: f"http://127.0.0.1:{_free_port()}"})
    runtime = Runtime.start(Settings(data_dir=data_dir, database_url=database_url, upstreams_path=upstreams))
    try:
        seeded = seed_demo(runtime, fleet=fleet)
    finally:
        runtime.close()
    return Deployment(tmp, data_dir, upstreams, seeded, database_url)


@pytest.fixture
def processes() -> Iterator[Callable[..., Any]]:
    """Start servers (receivers, gateways) for this test; each is stopped when the test ends."""
    started: list[Any] = []

    def keep(thing: Any) -> Any:
        started.append(thing)
        return thing

    try:
        yield keep
    finally:
        for thing in reversed(started):
            _stop(thing) if isinstance(thing, Gateway) else thing.stop()


def receiver(gateway_url: str, seeded: DemoWorld | None, *, answer_after: float = 0.0) -> ServerProcess:
    args = ["--gateway", gateway_url, "--answer-after", str(answer_after)]
    env = {}
    if seeded is not None:
        args += ["--client-id", "marketing"]
        env["CONSENTRY_RECEIVER_CLIENT_SECRET"] = seeded.client_secrets["marketing"]
    return ServerProcess("gateway.demo.receiver", port=_free_port(), args=args, env=env, startup_timeout=60)


def register_webhook(gateway: Gateway, seeded: DemoWorld, client: str, url: str, types: list[str]) -> str:
    response = httpx.post(
        f"{gateway.base_url}/v1/webhooks",
        json={"url": url, "event_types": types},
        headers={"Authorization": f"Bearer {token(gateway.base_url, seeded, client)}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["webhook_id"])


def received(hook: ServerProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{hook.url}/received", timeout=30).json())


def wait_for(what: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def all_delivered(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM gw_event_deliveries WHERE status != 'delivered'"))
            return bool(pending.scalar_one() == 0)
    finally:
        engine.dispose()


def event_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {str(row[0]) for row in conn.execute(text("SELECT event_id FROM gw_change_events"))}
    finally:
        engine.dispose()


@contextlib.contextmanager
def customer_session(gateway: Gateway, seeded: DemoWorld, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        login = http.post("/v1/session", json={"username": username, "password": seeded.passwords[username]})
        assert login.status_code == 200, login.text
        yield http


def withdraw_marketing(gateway: Gateway, seeded: DemoWorld, subject: str, username: str) -> None:
    record = seeded.consents[(subject, "marketing")]
    with customer_session(gateway, seeded, username) as http:
        answer = http.post(f"/v1/me/consents/{record}/withdraw", headers={"Idempotency-Key": f"w-{record}"})
        assert answer.status_code == 200, answer.text


def test_withdrawal_is_delivered_signed_confirmed_and_shown_to_the_customer(
    tmp_path: Path, processes: Callable[..., Any]
) -> None:
    world = deploy(tmp_path)
    port = _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{port}", world.seeded).start())
    gateway = processes(world.serve(port))
    register_webhook(gateway, world.seeded, "marketing", f"{hook.url}/events", ["consent.withdrawn"])
    withdraw_marketing(gateway, world.seeded, "cust-1001", "li.wei")

    arrivals = wait_for(lambda: received(hook)["arrivals"])
    (event,) = arrivals
    assert event["type"] == "consent.withdrawn" and event["customer"]["number"] == "cust-1001"
    assert received(hook)["rejected"] == 0  # the receiver verified it with the key the gateway publishes
    with customer_session(gateway, world.seeded, "li.wei") as http:

        def confirmed() -> Any:
            events = http.get("/v1/me/events").json()
            return events if events and events[0]["recipients"][0]["confirmed_at"] else None

        (mine,) = wait_for(confirmed)
        assert mine["event_id"] == event["id"] and mine["type"] == "consent.withdrawn"
        (recipient,) = mine["recipients"]
        assert recipient["organization"] == "bright-marketing" and recipient["status"] == "delivered"
        assert recipient["confirmation"] == "deleted"
        # the confirmation is a ledger entry, and names the event it confirms
        with Ledger.open(gateway.database_url, create=False) as ledger:
            payload = ledger.payload(recipient["confirmation_ledger_index"]) or {}
            assert b"recipient.confirmation" in ledger.entry(recipient["confirmation_ledger_index"])
        assert payload["event_id"] == event["id"] and payload["action"] == "deleted"
        # the portal says so, in both languages
        page = http.get("/portal/consents", headers={"Accept-Language": "en"}).text
        assert "Confirmed by Bright Marketing Agency" in page
        http.cookies.set("consentry_lang", "zh-CN")
        assert "明亮营销策划有限公司 已确认删除" in http.get("/portal/consents").text
    # a customer whose consent did not change was told nothing, and the agency's other events are not ours
    with customer_session(gateway, world.seeded, "anna.schmidt") as http:
        assert http.get("/v1/me/events").json() == []


def test_an_operators_withdrawal_from_the_cli_reaches_the_recipient_like_the_customers(
    tmp_path: Path, processes: Callable[..., Any]
) -> None:
    """`consentry consent withdraw`, run beside a serving gateway, takes the customer's withdrawal path: the
    event is queued in the withdrawal's transaction and the serving gateway delivers it, signed."""
    world = deploy(tmp_path)
    port = _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{port}", world.seeded).start())
    gateway = processes(world.serve(port))
    register_webhook(gateway, world.seeded, "marketing", f"{hook.url}/events", ["consent.withdrawn"])
    record = world.seeded.consents[("cust-1002", "marketing")]
    environment = {**os.environ, "CONSENTRY_DATA_DIR": str(world.data_dir)}
    environment.pop("CONSENTRY_DATABASE_URL", None)
    withdrawn = subprocess.run(
        [CONSENTRY, "consent", "withdraw", record, "--actor", "admin:ops", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout)["status"] == "withdrawn"

    (event,) = wait_for(lambda: received(hook)["arrivals"])
    assert event["type"] == "consent.withdrawn" and event["customer"]["number"] == "cust-1002"
    assert received(hook)["rejected"] == 0
    with customer_session(gateway, world.seeded, "anna.schmidt") as http:
        (mine,) = http.get("/v1/me/events").json()
        assert mine["event_id"] == event["id"]
        assert [r["organization"] for r in mine["recipients"]] == ["bright-marketing"]
        (entry,) = [e for e in http.get("/v1/me/consents/history").json() if e["status"] == "withdrawn"]
    assert entry["record_id"] == record and entry["actor"] == "admin:ops"


def test_tampered_or_foreign_signed_events_are_refused_by_the_receiver(
    tmp_path: Path, processes: Callable[..., Any]
) -> None:
    world = deploy(tmp_path)
    port = _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{port}", None).start())
    processes(world.serve(port))
    keys = KeyStore(world.data_dir / "keys")
    genuine = EventSigner(lambda: keys.ring("events"))
    body = json.dumps({"id": "e-1", "type": "consent.withdrawn", "customer": {"id": "c", "number": "cust-1001"}})

    def post(signer: EventSigner, sent: bytes, *, tamper: Callable[[bytes], bytes] = lambda b: b) -> int:
        with httpx.Client(timeout=30) as http:
            request = http.build_request(
                "POST",
                f"{hook.url}/events",
                content=sent,
                headers={"Content-Type": "application/json", EVENT_ID_HEADER: "e-1"},
            )
            signer.sign(request, sent)
            forged = http.build_request("POST", request.url, content=tamper(sent), headers=request.headers)
            return http.send(forged).status_code

    assert post(genuine, body.encode()) == 204
    assert post(genuine, body.encode(), tamper=lambda b: b.replace(b"cust-1001", b"cust-1002")) == 401
    ring = keys.ring("events")
    stranger = SigningKey.generate("EdDSA")
    foreign = EventSigner(lambda: type(ring)("events", (stranger,), stranger.kid))
    assert post(foreign, body.encode()) == 401
    state = received(hook)
    assert state["rejected"] == 2 and [a["id"] for a in state["arrivals"]] == ["e-1"]


def test_events_survive_a_gateway_killed_mid_delivery(tmp_path: Path, processes: Callable[..., Any]) -> None:
    world = deploy(tmp_path)
    port = _free_port()
    # a slow recipient: each acknowledgement takes 5 s, so the gateway can be killed with a delivery in flight
    hook = processes(receiver(f"http://127.0.0.1:{port}", None, answer_after=5.0).start())
    lease = {"CONSENTRY_EVENTS_LEASE_SECONDS": "4"}
    gateway = world.serve(port, **lease)
    register_webhook(
        gateway, world.seeded, "marketing", f"{hook.url}/events", ["consent.withdrawn", "erasure.requested"]
    )
    for subject, username in (("cust-1001", "li.wei"), ("cust-1002", "anna.schmidt"), ("cust-1003", "zhang.min")):
        withdraw_marketing(gateway, world.seeded, subject, username)
    with customer_session(gateway, world.seeded, "li.wei") as http:  # Li Wei's second event, after her first
        assert http.post("/v1/me/erasure", headers={"Idempotency-Key": "erase-li"}).status_code in (200, 202)

    def in_flight() -> bool:
        state = received(hook)
        return len(state["arrivals"]) > len(state["acknowledged"])

    wait_for(in_flight)
    gateway.process.send_signal(signal.SIGKILL)  # mid-delivery: an arrival is not acknowledged yet
    gateway.process.wait()

    restarted = processes(world.serve(port, **lease))
    wait_for(lambda: all_delivered(restarted.database_url), timeout=120)
    expected = event_ids(restarted.database_url)
    arrivals = received(hook)["arrivals"]
    ids = [a["id"] for a in arrivals]
    assert len(expected) == 4 and set(ids) == set(expected)  # none lost, nothing unknown
    repeats = [i for i, a in enumerate(arrivals) if a["repeat"]]
    assert repeats, "the delivery in flight when the gateway died is delivered again"
    assert all(ids[i] in ids[:i] for i in repeats)  # a repeat carries the id of an earlier delivery
    li_wei = [a["type"] for a in arrivals if a["customer"]["number"] == "cust-1001" and not a["repeat"]]
    assert li_wei == ["consent.withdrawn", "erasure.requested"]  # in order per customer


@pytest.mark.postgres
def test_two_gateway_processes_deliver_each_event_once(
    tmp_path: Path, postgres_url: str, processes: Callable[..., Any]
) -> None:
    world = deploy(tmp_path, postgres_url, fleet=True)
    first_port, second_port = _free_port(), _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{first_port}", None).start())
    issuer = {"CONSENTRY_ISSUER": "https://gateway.example"}
    first = processes(world.serve(first_port, **issuer))
    processes(world.serve(second_port, **issuer))
    register_webhook(first, world.seeded, "rnd", f"{hook.url}/events", ["consent.withdrawn"])
    # every fleet customer withdraws the R&D consent, through the rights service both gateways run
    runtime = world.runtime()
    try:
        subjects = [s for (s, purpose) in world.seeded.consents if purpose == "joint_rnd" and s.startswith("fleet-")]
        for subject in subjects:
            record = runtime.policies.consents.get(world.seeded.consents[(subject, "joint_rnd")])
            runtime.policies.consents.withdraw(
                record.record_id,
                actor=f"customer:{record.subject_id}",
                effects=consent_effect(runtime.policies.taxonomy, CONSENT_WITHDRAWN),
            )
    finally:
        runtime.close()

    # once every delivery is recorded delivered no process can claim one again (a claim needs it pending)
    wait_for(lambda: len(event_ids(postgres_url)) == len(subjects) and all_delivered(postgres_url), timeout=180)
    ids = [a["id"] for a in received(hook)["arrivals"]]
    assert len(ids) == len(subjects) == 40
    assert len(set(ids)) == len(ids)  # each delivered once, though both processes drained the outbox


def test_a_recipient_with_a_registered_key_must_sign_its_confirmations(
    tmp_path: Path, processes: Callable[..., Any]
) -> None:
    world = deploy(tmp_path)
    port = _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{port}", None).start())
    gateway = processes(world.serve(port))
    mine, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    x = b64url_encode(mine.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    bearer = token(gateway.base_url, world.seeded, "marketing")
    registered = httpx.post(
        f"{gateway.base_url}/v1/webhooks",
        json={
            "url": f"{hook.url}/events",
            "event_types": ["consent.withdrawn"],
            "public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": x},
        },
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    kid = registered.json()["public_jwk"]["kid"]
    withdraw_marketing(gateway, world.seeded, "cust-1001", "li.wei")
    (event,) = wait_for(lambda: received(hook)["arrivals"])

    def confirm(key: Ed25519PrivateKey | None) -> httpx.Response:
        body = json.dumps({"action": "deleted"}).encode()
        with httpx.Client(timeout=30) as http:
            request = http.build_request(
                "POST",
                f"{gateway.base_url}/v1/events/{event['id']}/confirmations",
                content=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
            )
            if key is not None:
                resolver = MappingKeyResolver(public_keys={}, private_keys={kid: key})
                HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver).sign(
                    request,
                    key_id=kid,
                    tag="consentry-confirmation",
                    covered_component_ids=("@method", "@target-uri", "authorization"),
                    body=body,
                )
            return http.send(request)

    for refused in (confirm(None), confirm(stranger)):
        assert refused.status_code == 401 and refused.json()["type"].endswith("/signature-required")
    accepted = confirm(mine)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["action"] == "deleted" and accepted.json()["ledger_index"] > 0


def test_webhooks_cannot_reach_private_addresses_unless_the_operator_allows_them(
    tmp_path: Path, processes: Callable[..., Any]
) -> None:
    """Server-side request forgery: a recipient must not make the gateway POST to loopback, the private network or
    a metadata endpoint, neither by a literal address nor by a name that resolves to one."""
    world = deploy(tmp_path)
    port = _free_port()
    hook = processes(receiver(f"http://127.0.0.1:{port}", world.seeded).start())
    gateway = processes(world.serve(port, CONSENTRY_EVENTS_PRIVATE_ADDRESSES="false"))
    bearer = {"Authorization": f"Bearer {token(gateway.base_url, world.seeded, 'marketing')}"}
    for url in (
        f"{hook.url}/events",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/x",
        "http://10.0.0.7/x",
        "http://localhost:9000/x",
        "http://admin.localhost/x",
    ):
        refused = httpx.post(
            f"{gateway.base_url}/v1/webhooks", json={"url": url, "event_types": ["consent.withdrawn"]}, headers=bearer
        )
        assert refused.status_code in (400, 422), (url, refused.status_code, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "not a public address" in refused.text
    # A name is accepted at registration, but delivery resolves it and refuses a private address.
    host = socket.gethostname()
    assert not all(ipaddress.ip_address(a[4][0]).is_global for a in socket.getaddrinfo(host, None))
    register_webhook(gateway, world.seeded, "marketing", f"http://{host}:{hook.port}/events", ["consent.withdrawn"])
    withdraw_marketing(gateway, world.seeded, "cust-1001", "li.wei")
    engine = create_engine(gateway.database_url)
    try:

        def refused_delivery() -> Any:
            with engine.connect() as conn:
                row = conn.execute(text("SELECT status, last_error FROM gw_event_deliveries")).first()
            return row if row is not None and row[1] else None

        status, error = wait_for(refused_delivery)
    finally:
        engine.dispose()
    assert status != "delivered" and "not public" in error
    assert received(hook)["arrivals"] == []
