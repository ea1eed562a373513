"""The whole demo on localhost: the vehicle cloud and a gateway (`consentry serve`), seeded, each its own process.

`DemoStack.start()` seeds a fresh data directory before the gateway starts (so nothing races the server),
and `steps()` returns the story as ready-to-paste shell commands — the same strings `consentry demo`
prints and its test runs.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from gateway.demo.partners import DEMO_LINKS
from gateway.demo.registry import BILLING, INSURER, VEHICLE_CLOUD, write_demo_registry
from gateway.demo.seed import DEMO_CLIENTS, DEMO_GUARDIANS, DEMO_PEOPLE, DemoWorld, seed_demo
from gateway.demo.server import ServerProcess, ServerStartError, VehicleCloudProcess, free_port
from gateway.demo.statements import load_or_create_source_key
from gateway.demo.tls import self_signed_certificate
from gateway.events import EVENT_TYPES
from gateway.runtime import Runtime
from gateway.settings import Settings
from wallet import WalletStore

__all__ = ["DemoDirectoryError", "DemoStack", "DemoStep"]

MARKER = ".consentry-demo"
# The README's example aggregate query (issue 21): the R&D partner's average mileage per vehicle model.
AVERAGE_MILEAGE_PER_MODEL: dict[str, object] = {
    "source": "vehicle-cloud",
    "statistic": "mean",
    "attribute": "mileage_km",
    "group_by": "model",
    "epsilon": 2,
}
MEDIAN_MILEAGE: dict[str, object] = {
    "source": "vehicle-cloud",
    "statistic": "quantile",
    "attribute": "mileage_km",
    "epsilon": 1,
}


# Question templates of the matrix (`questions:` in policies/data/matrix.yaml), exactly as declared (a recipient
# cannot change a threshold).
CATALYST_OR_MISFIRE: dict[str, object] = {
    "id": "catalyst-or-misfire",
    "attribute": "fault_code",
    "predicate": {"op": "in", "operands": ["P0420", "P0300"]},
}
INCOME_BAND: dict[str, object] = {
    "id": "income-band",
    "attribute": "annual_income_cents",
    "predicate": {"op": "within", "operands": [30000000, 100000000]},
}
INCOME_ABOVE_500K: dict[str, object] = {
    "id": "income-above-500k",
    "attribute": "annual_income_cents",
    "predicate": {"op": ">=", "operands": [50000000]},
}


class DemoDirectoryError(ValueError):
    """The data directory exists and was not made by the demo: it is never wiped."""


@dataclass(frozen=True)
class DemoStep:
    title: str
    command: str


class DemoStack:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 8000,
        upstream_port: int = 8701,
        billing_port: int | None = None,
        insurer_port: int | None = None,
        receiver_port: int | None = None,
        consentry: str | None = None,
        workers: int = 1,
        https: bool = False,
    ):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.workers = workers
        self.https = https
        # The vehicle cloud signs zero-knowledge statements and anchors them at the gateway; over https it trusts
        # the gateway by the demo's self-signed certificate, given explicitly (verification stays on).
        self.source_key_file = self.data_dir / "vehicle-cloud" / "source-key.json"
        anchoring: tuple[str, ...] = ("--gateway", self.url)
        if self.certificate is not None:
            anchoring += ("--gateway-ca", str(self.certificate))
        self.upstream = VehicleCloudProcess(
            port=upstream_port, args=("--source-key-file", str(self.source_key_file), *anchoring)
        )
        self.wallet_dir = self.data_dir / "li.wei-wallet"
        # The federation's other sources: billing/loyalty (account numbers) and the insurer (policy numbers).
        self.partners = {
            name: ServerProcess("gateway.demo.partners", port=chosen or free_port(), args=["--system", name])
            for name, chosen in ((BILLING, billing_port), (INSURER, insurer_port))
        }
        # The marketing agency's webhook receiver (`gateway.demo.receiver`), started once its client secret exists.
        self.receiver_port = receiver_port or free_port()
        self.receiver: ServerProcess | None = None
        self.consentry = consentry or str(Path(sys.executable).with_name("consentry"))
        self.world: DemoWorld | None = None
        self._gateway: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    @property
    def certificate(self) -> Path | None:
        """With `https`, the self-signed certificate the gateway serves: the one trust anchor a client needs."""
        return self.data_dir / "tls" / "cert.pem" if self.https else None

    @property
    def gateway_pid(self) -> int | None:
        """The `consentry serve` process (with workers, their parent)."""
        return None if self._gateway is None else self._gateway.pid

    def _fresh_directory(self) -> None:
        if self.data_dir.exists():
            if not (self.data_dir / MARKER).exists():
                raise DemoDirectoryError(f"{self.data_dir} exists and is not a demo directory; choose --data-dir")
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, mode=0o700)
        (self.data_dir / MARKER).write_text("made by `consentry demo`; wiped by the next run\n")

    def _environment(self, upstreams: Path, source_key: str) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
        environment.update(
            CONSENTRY_DATA_DIR=str(self.data_dir),
            CONSENTRY_ISSUER=self.url,
            CONSENTRY_PORT=str(self.port),
            CONSENTRY_UPSTREAMS_PATH=str(upstreams),
            CONSENTRY_LOG_LEVEL="warning",
            CONSENTRY_EVENTS_PRIVATE_ADDRESSES="true",  # the marketing agency's receiver is on 127.0.0.1
            CONSENTRY_ZK_SOURCE_KEYS=json.dumps([source_key]),
        )
        return environment

    def start(self) -> DemoStack:
        self._fresh_directory()
        self.source_key_file.parent.mkdir(mode=0o700)
        _, source_key = load_or_create_source_key(self.source_key_file)
        try:
            self.upstream.start()
            for partner in self.partners.values():
                partner.start()
            urls = {VEHICLE_CLOUD: self.upstream.url, **{name: p.url for name, p in self.partners.items()}}
            upstreams = write_demo_registry(self.data_dir / "upstreams.yaml", urls)
            settings = Settings(data_dir=self.data_dir, issuer=self.url, upstreams_path=upstreams, database_url=None)
            runtime = Runtime.start(settings)
            try:
                self.world = seed_demo(runtime, fleet=True)
                self._give_li_wei_a_wallet(runtime)
            finally:
                runtime.close()
            command = [self.consentry, "serve", "--workers", str(self.workers)]
            if self.https:
                cert, key = self_signed_certificate(self.data_dir / "tls")
                command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
            self.receiver = self._receiver()
            self.receiver.start()
            log = (self.data_dir / "gateway.log").open("wb")
            self._gateway = subprocess.Popen(  # noqa: S603 (our own entry point)
                command,
                env=self._environment(upstreams, source_key),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self._wait_healthy()
            self._register_webhook()
        except BaseException:
            self.stop()
            raise
        return self

    def _receiver(self) -> ServerProcess:
        assert self.world is not None
        args = ["--gateway", self.url, "--client-id", "marketing"]
        if self.certificate is not None:
            args += ["--ca-file", str(self.certificate)]
        secret = {"CONSENTRY_RECEIVER_CLIENT_SECRET": self.world.client_secrets["marketing"]}
        return ServerProcess("gateway.demo.receiver", port=self.receiver_port, args=args, env=secret)

    def _register_webhook(self) -> None:
        """The marketing agency asks, as any recipient would, to be told of withdrawals and erasures."""
        assert self.world is not None and self.receiver is not None
        trust = ssl.create_default_context(cafile=self.certificate) if self.certificate else True
        secret = self.world.client_secrets["marketing"]
        with httpx.Client(base_url=self.url, timeout=30, verify=trust) as http:
            token = _patiently(
                lambda: http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("marketing", secret),
                )
            )
            hook = {"url": f"{self.receiver.url}/events", "event_types": list(EVENT_TYPES)}
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            _patiently(lambda: http.post("/v1/webhooks", json=hook, headers=bearer))

    def _give_li_wei_a_wallet(self, runtime: Runtime) -> None:
        """Li Wei installed the wallet (`consentry wallet init`) and enrolled its DID at the vehicle cloud; she
        consented to the finance partner's income questions, as separate consent. Binding the DID to her account
        at the gateway is hers to do (`consentry wallet bind`, the first printed wallet step)."""
        assert self.world is not None
        did = WalletStore.init(self.wallet_dir).key.did
        customer_id = self.world.customer_ids["cust-1001"]
        bound = httpx.put(f"{self.upstream.url}/customers/cust-1001/wallet", json={"did": did}, timeout=10)
        bound.raise_for_status()
        runtime.policies.consents.grant(
            subject_id=customer_id,
            purposes=["financial_product_recommendation"],
            categories=["financial.income"],
            recipients=["org:acme-finance"],
            jurisdiction="CN",
            actor=f"customer:{customer_id}",
            method="portal",
            separate=True,
        )

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        assert self._gateway is not None
        while time.monotonic() < deadline:
            if self._gateway.poll() is not None:
                raise ServerStartError(f"the gateway exited; see {self.data_dir / 'gateway.log'}")
            try:
                trust = ssl.create_default_context(cafile=self.certificate) if self.certificate else True
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=trust).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise ServerStartError(f"the gateway did not become healthy; see {self.data_dir / 'gateway.log'}")

    def wait(self) -> int:
        """Block until the gateway exits (Ctrl-C stops it)."""
        assert self._gateway is not None
        return self._gateway.wait()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Forward `signum` to the gateway and the vehicle cloud and wait for both (killing one that lingers)."""
        process, self._gateway = self._gateway, None
        if process is not None and process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.upstream.stop(signum)
        if self.receiver is not None:
            self.receiver.stop(signum)
        for partner in self.partners.values():
            partner.stop(signum)

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _token(self, client_id: str) -> str:
        assert self.world is not None
        secret = self.world.client_secrets[client_id]
        return (
            f"$(curl -s -u {client_id}:{shlex.quote(secret)} -d grant_type=client_credentials {self.url}/oauth/token"
            " | jq -r .access_token)"
        )

    def _read(self, client_id: str, purpose: str, subject: str) -> str:
        return (
            f'curl -s -H "Authorization: Bearer {self._token(client_id)}" -H "Consentry-Purpose: {purpose}" '
            f"{self.url}/v1/proxy/vehicle-cloud/customers/{subject} | jq ."
        )

    def _profile(self, client_id: str, purpose: str, identifier: str) -> str:
        return (
            f'curl -s -H "Authorization: Bearer {self._token(client_id)}" -H "Consentry-Purpose: {purpose}" '
            f"{self.url}/v1/profiles/{identifier} | jq ."
        )

    def _aggregate(self, client_id: str, purpose: str, query: dict[str, object]) -> str:
        return (
            f'curl -s -H "Authorization: Bearer {self._token(client_id)}" -H "Consentry-Purpose: {purpose}" '
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(query))} "
            f"{self.url}/v1/analytics/queries | jq ."
        )

    def _cookie_jar(self, username: str) -> str:
        return shlex.quote(str(self.data_dir / f"{username}.cookies"))

    def _sign_in(self, username: str) -> str:
        assert self.world is not None
        body = json.dumps({"username": username, "password": self.world.passwords[username]})
        return (
            f"curl -s -o /dev/null -c {self._cookie_jar(username)} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)} {self.url}/v1/session"
        )

    def _wallet(self, *args: str) -> str:
        return shlex.join([self.consentry, "wallet", "--dir", str(self.wallet_dir), *args])

    def _ask(self, client_id: str, template: dict[str, object], purpose: str, name: str, wait: int = 20) -> str:
        """Build the whole question (a declared template, fresh nonce, our clock), keep it, and send it."""
        assert self.world is not None
        organization = next(c.organization for c in DEMO_CLIENTS if c.client_id == client_id)
        asked = shlex.quote(str(self.wallet_dir / f"{name}.question.json"))
        answer = shlex.quote(str(self.wallet_dir / f"{name}.answer.json"))
        build = (
            'jq -n --arg now "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
            "--arg exp \"$(date -u -d '+2 min' +%Y-%m-%dT%H:%M:%SZ)\" "
            "--arg nonce \"$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')\" "
            + shlex.quote(
                f'{{template: {json.dumps(template)}, subject: "cust-1001", audience: "org:{organization}", '
                f'purpose: "{purpose}", nonce: $nonce, asked_at: $now, expires_at: $exp}}'
            )
        )
        return (
            f"{build} > {asked} && jq '{{question: ., wait: {wait}}}' {asked} | "
            f"curl -s -H \"Authorization: Bearer {self._token(client_id)}\" -H 'Content-Type: application/json' "
            f"-d @- {self.url}/v1/zk/questions | tee {answer} | jq '{{status, holds, type, detail}}'"
        )

    def wallet_steps(self) -> list[DemoStep]:
        """Issue 15: Li Wei's wallet answers the dealership's question; the gateway only relays and verifies."""
        assert self.world is not None
        trust = shlex.quote(str(self.wallet_dir / "trust.json"))
        pid = shlex.quote(str(self.wallet_dir / "run.pid"))
        log = shlex.quote(str(self.wallet_dir / "run.log"))
        _, source_key = load_or_create_source_key(self.source_key_file)
        code = f"$(curl -s -b {self._cookie_jar('li.wei')} -X POST {self.url}/v1/me/wallet/binding-codes | jq -r .code)"
        bind = shlex.join([self.consentry, "wallet", "--dir", str(self.wallet_dir), "bind", "--gateway", self.url])
        return [
            DemoStep(
                "Li Wei signs in and takes a one-time binding code (as on her portal account page); her wallet "
                "signs the gateway's challenge with her DID key and binds the DID to her account (a ledger entry)",
                f'{self._sign_in("li.wei")} && {bind} --code "{code}"',
            ),
            DemoStep(
                "Li Wei's wallet signs in to the vehicle cloud with her DID and fetches the statements it signed "
                "about her, openings included (the vehicle cloud anchors the signed statements at the gateway)",
                self._wallet("fetch", "--source", self.upstream.url, "--source-key", source_key),
            ),
            DemoStep(
                "She lets her wallet answer the dealership's catalyst question and the finance partner's income "
                "band on its own (anything else it would ask her)",
                f"{self._wallet('rule', 'add', '--recipient', 'org:dealer-sh-4s', '--template', 'catalyst-or-misfire')}"
                f" && {self._wallet('rule', 'add', '--recipient', 'org:acme-finance', '--template', 'income-band')}",
            ),
            DemoStep(
                "Start Li Wei's wallet: it connects out to the gateway and waits for questions (leave it running)",
                f"{self._wallet('run', '--gateway', self.url, '--no-ask')} > {log} 2>&1 & echo $! > {pid}",
            ),
            DemoStep(
                "The dealership asks whether a fault code is in {P0420, P0300}: her wallet proves yes",
                self._ask("dealer", CATALYST_OR_MISFIRE, "service_delivery", "catalyst"),
            ),
            DemoStep(
                "Anyone checks that answer with public keys only (no account, no gateway code involved)",
                f"curl -s {self.url}/v1/zk/trust > {trust} && {self.consentry} zk verify-answer "
                f"{shlex.quote(str(self.wallet_dir / 'catalyst.answer.json'))} --question "
                f"{shlex.quote(str(self.wallet_dir / 'catalyst.question.json'))} --trust {trust}",
            ),
            DemoStep(
                "The finance partner asks whether her income is in the declared band: proven yes",
                self._ask("finance", INCOME_BAND, "financial_product_recommendation", "income-band"),
            ),
            DemoStep(
                "It tries a second threshold to narrow her income down: refused (question-budget-exhausted)",
                self._ask("finance", INCOME_ABOVE_500K, "financial_product_recommendation", "income-above"),
            ),
            DemoStep("Li Wei stops her wallet", f"kill $(cat {pid})"),
            DemoStep(
                "The dealership asks again: the customer is unavailable, and nothing is made up for her",
                self._ask("dealer", CATALYST_OR_MISFIRE, "service_delivery", "catalyst-again", wait=3),
            ),
        ]

    def steps(self) -> list[DemoStep]:
        """The story, as shell commands (curl and jq) that work against this running stack."""
        world = self.world
        assert world is not None
        marketing_consent = world.consents[("cust-1001", "marketing")]
        cookies = self._cookie_jar("li.wei")
        return [
            DemoStep(
                "The 4S dealership reads Li Wei's record for servicing: VIN and fault codes are released, "
                "the national ID is withheld (matrix_deny), unmapped fields are dropped",
                self._read("dealer", "service_delivery", "cust-1001"),
            ),
            DemoStep(
                "The marketing agency reads the same record for marketing (Li Wei consented)",
                self._read("marketing", "marketing", "cust-1001"),
            ),
            DemoStep(
                "Li Wei signs in and sees who accessed her data, for what purpose, released and withheld",
                f"{self._sign_in('li.wei')} && curl -s -b {cookies} {self.url}/v1/me/accesses | jq .",
            ),
            DemoStep(
                "Li Wei withdraws the marketing consent through the customer API (a ledger entry)",
                f"{self._sign_in('li.wei')} && curl -s -b {cookies} -X POST -H 'Idempotency-Key: demo-withdraw-1' "
                f"{self.url}/v1/me/consents/{marketing_consent}/withdraw | jq .",
            ),
            DemoStep(
                "The marketing agency is now refused: 403 access-refused, reason consent_withdrawn",
                self._read("marketing", "marketing", "cust-1001"),
            ),
            DemoStep(
                "The R&D partner reads driving behaviour; Li Wei earns value-for-data points",
                self._read("rnd", "joint_rnd", "cust-1001"),
            ),
            DemoStep(
                "An auditor verifies the ledger from outside (run it again later: it proves the log only grew)",
                f"{self.consentry} ledger verify --url {self.url} --state {shlex.quote(str(self.data_dir))}"
                f"/audit-state.json --client-id auditor --client-secret {shlex.quote(world.client_secrets['auditor'])}",
            ),
            DemoStep(
                "The R&D partner asks for the average mileage per model: anonymous statistics only, a "
                "differentially private mean over every customer who allows it, spending epsilon 2 of its budget",
                self._aggregate("rnd", "joint_rnd", AVERAGE_MILEAGE_PER_MODEL),
            ),
            DemoStep(
                "The R&D partner asks for the median mileage of every vehicle (epsilon 1)",
                self._aggregate("rnd", "joint_rnd", MEDIAN_MILEAGE),
            ),
            DemoStep(
                "Li Wei sees the anonymous statistic her data counted in: the median, not the per-model average "
                "(her vehicle record names no model, so it could not count there)",
                f"{self._sign_in('li.wei')} && curl -s -b {cookies} {self.url}/v1/me/analytics | jq .",
            ),
            DemoStep(
                "The dealership reads Li Wei's whole profile by her loyalty account number: the vehicle cloud, "
                "billing and the insurer in one call, each field under its source, each source's status, one "
                "ledger entry",
                self._profile("dealer", "service_delivery", DEMO_LINKS["cust-1001"][BILLING]),
            ),
            DemoStep(
                "The marketing agency's receiver got Li Wei's withdrawal (step 4) as a signed change event within "
                "seconds, verified the signature with the gateway's published key and confirmed the deletion",
                f"curl -s {self.receiver.url if self.receiver else ''}/received | jq .",
            ),
            DemoStep(
                "Li Wei sees who was told of her withdrawal and who confirmed deleting (also in the portal: "
                '"Confirmed by Bright Marketing Agency")',
                f"{self._sign_in('li.wei')} && curl -s -b {cookies} {self.url}/v1/me/events | jq .",
            ),
            *self._guardian_and_gpc_steps(),
        ]

    def _guardian_and_gpc_steps(self) -> list[DemoStep]:
        """The README's G steps that a shell can show: the minor refused, a GPC signal stopping the sale."""
        minor, emily = self._cookie_jar("wang.xiaoming"), self._cookie_jar("emily.carter")
        # Any well-formed grant: a minor's is refused before the agreement it cites is even looked at.
        grant = {
            "purposes": ["repair_prediction"],
            "categories": ["vehicle.vin"],
            "recipients": ["role:dealer"],
            "notice": {"version": "1", "sha256": "0" * 64},
        }
        return [
            DemoStep(
                "Wang Xiaoming, a minor under PIPL, tries to consent himself: 403 guardian-consent-required, "
                "naming his guardian (who decides in the portal: sign in as wang.jun)",
                f"{self._sign_in('wang.xiaoming')} && curl -s -b {minor} -H 'Content-Type: application/json' "
                f"-d {shlex.quote(json.dumps(grant))} {self.url}/v1/me/consents | jq .",
            ),
            DemoStep(
                "The marketing agency reads Emily Carter (California): under the CCPA marketing rests on notice",
                self._read("marketing", "marketing", "cust-1005"),
            ),
            DemoStep(
                "Emily's browser sends a Global Privacy Control signal: recorded once as her opt-out of sale and "
                "sharing, in the ledger",
                f"{self._sign_in('emily.carter')} && curl -s -b {emily} -H 'Sec-GPC: 1' "
                f"{self.url}/v1/me/privacy-choices | jq .",
            ),
            DemoStep(
                "The marketing agency's next read is refused: 403 access-refused, reason opt_out_of_sale",
                self._read("marketing", "marketing", "cust-1005"),
            ),
        ]

    def accounts(self) -> list[tuple[str, str, str]]:
        """(customer number, username, password) of every demo customer, then each guardian (whose "number" says
        whose guardian they are), for the portal."""
        world = self.world
        assert world is not None
        people = [(p.source_subject, p.username, world.passwords[p.username]) for p in DEMO_PEOPLE]
        return people + [(f"guardian of {g.ward}", g.username, world.passwords[g.username]) for g in DEMO_GUARDIANS]


def _patiently(send: Callable[[], httpx.Response], deadline_s: float = 60.0) -> httpx.Response:
    """A busy gateway answers a retryable 503 (storage momentarily locked) or 429 with Retry-After: the demo,
    like any well-behaved client, waits and asks again rather than failing its start."""
    give_up = time.monotonic() + deadline_s
    while True:
        answer = send()
        if answer.status_code not in (429, 503) or time.monotonic() > give_up:
            answer.raise_for_status()
            return answer
        retry_after = answer.headers.get("Retry-After", "1")
        time.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 5.0))
