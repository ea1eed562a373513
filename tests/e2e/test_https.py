"""Status lists under the public URL's scheme, and the gateway over https (issue 18, point 7).

Verifiers fetch status lists and DID documents and commonly accept only https. The lists' URLs are made from
the public URL (`CONSENTRY_ISSUER`), so behind a TLS-terminating proxy they are https; and `consentry serve`
(and `consentry demo --https`) can serve https itself with a certificate, so an https-only verifier checks a
credential end to end on localhost, trusting only the demo's self-signed certificate.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from credentials import DidResolver, did_web_document_url, verify_credential
from gateway.demo.stack import DemoStack
from gateway.demo.tls import self_signed_certificate
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop
from tests.e2e.credential_helpers import Wallet, unsigned_receipt


def _trust(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert)


def test_status_list_urls_take_the_public_urls_scheme(start_gateway: Callable[..., Gateway]) -> None:
    """Behind a TLS-terminating proxy the gateway speaks http, but every URL it signs is the public https one."""
    gateway = start_gateway(issuer="https://consent.example.com")
    gateway.register("admin", ["admin"], ["admin"])
    admin = {"Authorization": f"Bearer {gateway.token('admin')}"}
    with gateway.client() as http:
        issued = http.post(
            "/credentials/issue",
            json={"credential": unsigned_receipt("did:web:consent.example.com", Wallet.generate().did)},
            headers=admin,
        )
        assert issued.status_code == 201, issued.text
        entry = issued.json()["verifiableCredential"]["credentialStatus"]
        assert entry["statusListCredential"] == "https://consent.example.com/v1/status-lists/1"
        listed = http.get("/v1/status-lists/1").json()
    assert listed["id"] == "https://consent.example.com/v1/status-lists/1"
    assert listed["credentialSubject"]["id"].startswith("https://consent.example.com/")


@pytest.fixture
def https_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, Path]]:
    """`consentry serve --ssl-certfile … --ssl-keyfile …` with the demo's self-signed certificate."""
    port = _free_port()
    cert, key = self_signed_certificate(tmp_path / "tls")
    data_dir = tmp_path / "data"
    environment = {
        **os.environ,
        "CONSENTRY_DATA_DIR": str(data_dir),
        "CONSENTRY_ISSUER": f"https://127.0.0.1:{port}",
        "CONSENTRY_PORT": str(port),
    }
    environment.pop("CONSENTRY_DATABASE_URL", None)
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CONSENTRY, "serve", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    gateway = Gateway(
        f"https://127.0.0.1:{port}", data_dir, f"sqlite:///{(data_dir / 'consentry.db').resolve()}", log_path, process
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(gateway.logs())
            try:
                if httpx.get(f"{gateway.base_url}/healthz", verify=_trust(cert), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield gateway, cert
    finally:
        _stop(gateway)


def test_an_https_only_verifier_checks_a_credential_served_over_https(https_gateway: tuple[Gateway, Path]) -> None:
    gateway, cert = https_gateway
    assert cert.with_name("key.pem").stat().st_mode & 0o777 == 0o600
    gateway.register("admin", ["admin"], ["admin"])
    with httpx.Client(base_url=gateway.base_url, verify=_trust(cert), timeout=30) as http:
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "admin", "client_secret": gateway.secrets["admin"]},
        ).json()["access_token"]
        did = http.get("/.well-known/did.json").json()["id"]
        issued = http.post(
            "/credentials/issue",
            json={"credential": unsigned_receipt(did, Wallet.generate().did)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert issued.status_code == 201, issued.text
    credential = issued.json()["verifiableCredential"]
    assert credential["credentialStatus"]["statusListCredential"].startswith(f"{gateway.base_url}/v1/status-lists/")

    def fetch(url: str) -> Any:
        """The verifier fetches nothing but https, and trusts only the demo's certificate."""
        assert url.startswith("https://"), url
        response = httpx.get(url, verify=_trust(cert), timeout=30)
        response.raise_for_status()
        return response.json()

    resolver = DidResolver({did: fetch(did_web_document_url(did))})
    result = verify_credential(credential, resolver=resolver, status_list_lookup=fetch)
    assert result.verified, result.errors
    assert "status-revocation" in result.checks
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway.base_url}/healthz", timeout=5)  # untrusted without the demo's certificate


def test_the_demo_runs_over_https_with_its_own_certificate(tmp_path: Path) -> None:
    with DemoStack(tmp_path / "demo", port=_free_port(), upstream_port=_free_port(), https=True) as stack:
        assert stack.url.startswith("https://") and stack.certificate is not None
        document = httpx.get(f"{stack.url}/.well-known/did.json", verify=_trust(stack.certificate), timeout=30)
        assert document.status_code == 200
        dealer = subprocess.run(
            ["bash", "-c", stack.steps()[0].command],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CURL_CA_BUNDLE": str(stack.certificate)},
        )
        assert '"LSVAU2180N2183294"' in dealer.stdout, dealer.stdout + dealer.stderr
