"""`consentry wallet bind` (issue 15): the customer proves the account with a one-time code from a signed-in
session, the wallet proves its DID key over a gateway challenge, and the gateway binds and ledgers it.

Real processes over real HTTP: a gateway (`consentry serve`) and the wallet command line. A wrong, used or
expired code and a bad signature are refused with a problem document (HTTP) and a precise message with a
non-zero exit (command line), and bind nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from gateway.auth.customers import CustomerStore
from gateway.store.database import create_db_engine
from gateway.store.wallet_binding_tables import wallet_binding_codes
from ledger.store import Ledger
from tests.e2e.conftest import CONSENTRY, Gateway, _free_port, _stop, serve_on
from wallet import DidSession, WalletStore
from wallet.client import WalletProtocolError

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    gateway: Gateway
    environment: dict[str, str]
    tmp: Path

    def wallet(self, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CONSENTRY, "wallet", "--dir", str(directory), *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def new_wallet(self, name: str) -> tuple[Path, str]:
        directory = self.tmp / name
        made = self.wallet(directory, "init")
        assert made.returncode == 0, made.stderr
        return directory, made.stdout.strip()

    def enrol(self, username: str) -> str:
        engine = create_db_engine(self.gateway.database_url)
        try:
            customer = CustomerStore(engine).create(
                username=username, password=PASSWORD, display_name=username, jurisdiction="CN"
            )
        finally:
            engine.dispose()
        return customer.customer_id

    def code(self, username: str) -> str:
        """What the customer does in the portal: sign in with the password, ask for a binding code."""
        with self.gateway.client() as http:
            signed_in = http.post("/v1/session", json={"username": username, "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            issued = http.post("/v1/me/wallet/binding-codes")
        assert issued.status_code == 201, issued.text
        assert issued.headers["Cache-Control"] == "no-store"
        code: str = issued.json()["code"]
        return code

    def bind(self, directory: Path, code: str) -> subprocess.CompletedProcess[str]:
        return self.wallet(directory, "bind", "--gateway", self.gateway.base_url, "--code", code)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("wallet-bind")
    gateway, environment = serve_on(tmp, _free_port())
    try:
        yield World(gateway, environment, tmp)
    finally:
        _stop(gateway)


def test_a_code_from_her_session_and_her_wallets_signature_bind_the_did_and_the_ledger_records_it(
    world: World,
) -> None:
    customer_id = world.enrol("li.wei")
    directory, did = world.new_wallet("li.wei-wallet")
    with (
        DidSession(world.gateway.base_url, WalletStore(directory).key) as session,
        pytest.raises(WalletProtocolError, match="No customer has bound this DID"),
    ):
        session.sign_in()  # not bound yet: the DID signs in as no one

    code = world.code("li.wei")
    bound = world.bind(directory, code)
    assert bound.returncode == 0, bound.stderr
    result = json.loads(bound.stdout)
    assert (result["did"], result["customer_id"]) == (did, customer_id)
    index = result["ledger_index"]
    with Ledger.open(world.gateway.database_url, create=False) as ledger:
        entry = ledger.entry(index)
        payload = ledger.payload(index)
    assert b'"type":"customer.did.bound"' in entry and f"customer:{customer_id}".encode() in entry
    assert payload == {"did": did, "account_proof": "binding_code", "key_proof": "did_authentication"}

    with DidSession(world.gateway.base_url, WalletStore(directory).key) as session:
        me = session.request("GET", "/v1/me/did")  # the wallet now signs in as her
    assert me.status_code == 200 and me.json()["did"] == did and me.json()["gateway_holds_key"] is False

    again = world.bind(directory, code)  # a code binds once
    assert again.returncode == 1
    assert "wallet: wallet binding: HTTP 403: This binding code is unknown or was already used." in again.stderr


def test_a_wrong_code_is_refused_and_binds_nothing(world: World) -> None:
    world.enrol("zhang.min")
    directory, _ = world.new_wallet("zhang.min-wallet")
    refused = world.bind(directory, "AAAA-BBBB-CCCC")
    assert refused.returncode == 1, refused.stdout
    assert "HTTP 403: This binding code is unknown or was already used." in refused.stderr
    assert "Traceback" not in refused.stderr
    with (
        DidSession(world.gateway.base_url, WalletStore(directory).key) as session,
        pytest.raises(WalletProtocolError, match="No customer has bound this DID"),
    ):
        session.sign_in()


def test_an_expired_code_is_refused_with_when_it_expired(world: World) -> None:
    world.enrol("wang.fang")
    directory, _ = world.new_wallet("wang.fang-wallet")
    code = world.code("wang.fang")
    engine = create_db_engine(world.gateway.database_url)
    try:
        with engine.begin() as conn:  # ten minutes pass
            past = datetime.now(UTC) - timedelta(seconds=1)
            conn.execute(update(wallet_binding_codes).values(expires_at=past))
    finally:
        engine.dispose()
    refused = world.bind(directory, code)
    assert refused.returncode == 1, refused.stdout
    assert "HTTP 410: This binding code expired at " in refused.stderr and "ask for a new one" in refused.stderr


def test_a_presentation_whose_signature_does_not_verify_is_refused_and_leaves_the_code_usable(world: World) -> None:
    world.enrol("chen.jie")
    directory, did = world.new_wallet("chen.jie-wallet")
    code = world.code("chen.jie")
    key = WalletStore(directory).key
    with httpx.Client(base_url=world.gateway.base_url, timeout=30) as http:
        issued = http.post("/v1/wallet/bindings/challenge").json()
        presentation = key.login_presentation(issued["challenge"], issued["domain"])
        proof = presentation["proof"]
        value = proof["proofValue"]
        proof["proofValue"] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        refused = http.post("/v1/wallet/bindings", json={"code": code, "presentation": presentation})
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["status"] == 401 and problem["type"].startswith("https://")
        replayed = http.post("/v1/wallet/bindings", json={"code": code, "presentation": presentation})
        assert replayed.status_code == 401 and "challenge" in replayed.json()["type"]  # the challenge is spent
    bound = world.bind(directory, code)  # the customer's code was not burnt by the bad signature
    assert bound.returncode == 0, bound.stderr
    assert did in bound.stdout


def test_a_did_bound_to_another_customer_is_a_conflict(world: World) -> None:
    world.enrol("liu.yang")
    directory = world.tmp / "li.wei-wallet"  # li.wei's wallet, bound to her in the first test
    refused = world.bind(directory, world.code("liu.yang"))
    assert refused.returncode == 1
    assert "HTTP 409: this DID already belongs to another customer" in refused.stderr


def test_the_code_shown_on_her_portal_account_page_binds_her_wallet(world: World) -> None:
    customer_id = world.enrol("zhao.lei")
    directory, did = world.new_wallet("zhao.lei-wallet")
    with world.gateway.client() as http:
        signed_in = http.post("/v1/session", json={"username": "zhao.lei", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        page = http.get("/portal/account").text
        form = re.search(
            r'action="[^"]*/account/wallet-binding-code" class="stack">\s*<input type="hidden" name="([^"]+)" '
            r'value="([^"]+)"',
            page,
        )
        assert form is not None, page
        shown = http.post("/portal/account/wallet-binding-code", data={form.group(1): form.group(2)})
    assert shown.status_code == 200, shown.text
    found = re.search(r'<code id="binding-code">([A-Z0-9-]+)</code>', shown.text)
    assert found is not None, shown.text
    assert f"consentry wallet bind --gateway {world.gateway.base_url} --code {found.group(1)}" in shown.text
    bound = world.bind(directory, found.group(1))
    assert bound.returncode == 0, bound.stderr
    assert json.loads(bound.stdout)["customer_id"] == customer_id
    with DidSession(world.gateway.base_url, WalletStore(directory).key) as session:
        assert session.request("GET", "/v1/me/did").json()["did"] == did
