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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from gateway.demo.partners import DEMO_LINKS
from gateway.demo.registry import BILLING, INSURER, VEHICLE_CLOUD, write_demo_registry
from gateway.demo.seed import DEMO_GUARDIANS, DEMO_PEOPLE, DemoWorld, seed_demo
from gateway.demo.server import ServerProcess, ServerStartError, VehicleCloudProcess, free_port
from gateway.demo.tls import self_signed_certificate
from gateway.runtime import Runtime
from gateway.settings import Settings

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
        consentry: str | None = None,
        workers: int = 1,
        https: bool = False,
    ):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.workers = workers
        self.https = https
        self.upstream = VehicleCloudProcess(port=upstream_port)
        # The federation's other sources: billing/loyalty (account numbers) and the insurer (policy numbers).
        self.partners = {
            name: ServerProcess("gateway.demo.partners", port=chosen or free_port(), args=["--system", name])
            for name, chosen in ((BILLING, billing_port), (INSURER, insurer_port))
        }
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

    def _environment(self, upstreams: Path) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
        environment.update(
            CONSENTRY_DATA_DIR=str(self.data_dir),
            CONSENTRY_ISSUER=self.url,
            CONSENTRY_PORT=str(self.port),
            CONSENTRY_UPSTREAMS_PATH=str(upstreams),
            CONSENTRY_LOG_LEVEL="warning",
        )
        return environment

    def start(self) -> DemoStack:
        self._fresh_directory()
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
            finally:
                runtime.close()
            command = [self.consentry, "serve", "--workers", str(self.workers)]
            if self.https:
                cert, key = self_signed_certificate(self.data_dir / "tls")
                command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
            log = (self.data_dir / "gateway.log").open("wb")
            self._gateway = subprocess.Popen(  # noqa: S603 (our own entry point)
                command,
                env=self._environment(upstreams),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

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
