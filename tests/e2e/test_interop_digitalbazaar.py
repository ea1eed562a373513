"""Interop with an independent implementation (issue 18, point 10): Digital Bazaar's JavaScript VC stack.

`tests/interop/js` pins @digitalbazaar/vc, data-integrity, eddsa-rdfc-2022-cryptosuite, ed25519-multikey,
ed25519-signature-2020, did-method-key and vc-bitstring-status-list (package-lock.json); `.ci/run` installs them
with `npm ci`. The JavaScript side loads nothing from the network: it gets our bundled contexts, our DID document
and our status lists in its request, and resolves did:key itself. Credentials we issue over HTTP verify there
(status included, and a revocation is seen); credentials it issues verify here over HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from credentials.contexts import bundled_urls, load_context
from tests.e2e.conftest import Actors
from tests.e2e.credential_helpers import Wallet, unsigned_receipt
from tests.e2e.test_credentials_api import _admin, _issuer, verify

JS = Path(__file__).resolve().parents[1] / "interop" / "js"


def _node(request: dict[str, Any]) -> dict[str, Any]:
    if shutil.which("node") is None or not (JS / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        pytest.skip(f"the JavaScript interop verifier is not installed: run `npm ci` in {JS} (Node.js 20)")
    contexts = {url: load_context(url) for url in bundled_urls()}
    completed = subprocess.run(
        ["node", "interop.mjs"],
        cwd=JS,
        input=json.dumps({**request, "contexts": contexts}).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def _documents(actors: Actors, credential: dict[str, Any]) -> dict[str, Any]:
    """What a verifier would fetch: our DID document and the status lists the credential points to."""
    with actors.gateway.client() as http:
        documents = {_issuer(actors): http.get("/.well-known/did.json").json()}
        entries = credential["credentialStatus"]
        for entry in entries if isinstance(entries, list) else [entries]:
            url = entry["statusListCredential"]
            documents[url] = http.get(url.removeprefix(actors.gateway.base_url)).json()
    return documents


def _issue(actors: Actors, credential: dict[str, Any]) -> dict[str, Any]:
    with actors.gateway.client() as http:
        response = http.post("/credentials/issue", json={"credential": credential}, headers=_admin(actors))
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()["verifiableCredential"]
    return issued


def _their_verdict(actors: Actors, credential: dict[str, Any]) -> dict[str, Any]:
    return _node({"command": "verify", "credential": credential, "documents": _documents(actors, credential)})


@pytest.mark.parametrize("as_did_key", [False, True], ids=["did:web", "did:key"])
def test_a_credential_issued_here_verifies_there_and_its_revocation_is_seen(actors: Actors, as_did_key: bool) -> None:
    """vc-di-eddsa eddsa-rdfc-2022 and BSL status, checked by an independent verifier (status list issuer match)."""
    issuer = _issuer(actors)
    if as_did_key:
        with actors.gateway.client() as http:
            issuer = http.get("/.well-known/did.json").json()["alsoKnownAs"][-1]
    credential = _issue(actors, unsigned_receipt(issuer, Wallet.generate().did))
    verdict = _their_verdict(actors, credential)
    assert verdict["verified"] is True, verdict
    assert verdict["statuses"] == [{"verified": True, "status": False, "purpose": "revocation"}], verdict

    body = {"credentialId": credential["id"], "credentialStatus": {"type": "BitstringStatusListEntry"}}
    body["credentialStatus"]["statusPurpose"] = "revocation"
    with actors.gateway.client() as http:
        revoked = http.post("/credentials/status", json={**body, "status": True}, headers=_admin(actors))
    assert revoked.status_code == 200, revoked.text
    after = _their_verdict(actors, credential)
    assert after["statuses"] == [{"verified": True, "status": True, "purpose": "revocation"}], after


def test_a_tampered_credential_from_here_fails_there(actors: Actors) -> None:
    credential = _issue(actors, unsigned_receipt(_issuer(actors), Wallet.generate().did))
    credential["credentialSubject"]["consent"]["ledgerIndex"] += 1
    assert _their_verdict(actors, credential)["verified"] is False


@pytest.mark.parametrize(
    ("suite", "credential"),
    [
        (
            "eddsa-rdfc-2022",
            {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": "urn:uuid:6a3f6f8e-8a2c-4c1e-9d43-000000000001",
                "type": ["VerifiableCredential"],
                "validFrom": "2026-01-01T00:00:00Z",
                "credentialSubject": {"id": "did:example:li-wei"},
            },
        ),
        (
            "Ed25519Signature2020",
            {
                "@context": [
                    "https://www.w3.org/2018/credentials/v1",
                    "https://w3id.org/security/suites/ed25519-2020/v1",
                ],
                "id": "urn:uuid:6a3f6f8e-8a2c-4c1e-9d43-000000000002",
                "type": ["VerifiableCredential"],
                "issuanceDate": "2026-01-01T00:00:00Z",
                "credentialSubject": {"id": "did:example:li-wei"},
            },
        ),
    ],
    ids=["VC 2.0 eddsa-rdfc-2022", "VC 1.1 Ed25519Signature2020"],
)
def test_a_credential_issued_there_verifies_here(actors: Actors, suite: str, credential: dict[str, Any]) -> None:
    theirs = _node({"command": "issue", "suite": suite, "credential": credential})["credential"]
    assert theirs["proof"]["type"] == ("DataIntegrityProof" if suite == "eddsa-rdfc-2022" else suite)
    response = verify(actors, theirs)
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True, response.json()
    assert {"data-model", "proof", "issuer-key"} <= set(response.json()["checks"])
    theirs["credentialSubject"]["id"] = "did:example:someone-else"
    assert verify(actors, theirs).json()["verified"] is False
