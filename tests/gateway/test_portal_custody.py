"""The portal's account page over real HTTP: the customer's DID, who holds its private key, and taking custody
of it (issue 4, "each customer has a DID (did:key) created at enrolment"; the browser side of
`POST /v1/me/did/custody`). Also the per-address limit on the portal's wallet sign-in challenges, shared with
`POST /v1/session/did/challenge`.

The gateway runs in uvicorn on a free port; the tests speak to it with httpx as a browser would (cookies, the
CSRF token read from the page) and look at the database and ledger through the same runtime.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials import did_key_verification_method, public_jwk, public_key_from_multibase
from gateway.app import create_app
from gateway.auth.custody import CUSTODY_EVENT, custody_state
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.demo import BackgroundServer
from gateway.runtime import Runtime
from gateway.settings import Settings
from ledger import parse_envelope

PASSWORD = "correct horse battery staple"
WALLET_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
CHALLENGE_BURST = 2


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """DID challenges: a burst of two, then one every 4 s, so the limit is reached in a few requests."""
    return Settings(
        data_dir=tmp_path / "data",
        issuer="http://127.0.0.1:8000",
        did_challenge_rate=0.25,
        did_challenge_burst=CHALLENGE_BURST,
    )


@pytest.fixture
def base_url(runtime: Runtime, free_port: int) -> Iterator[str]:
    with BackgroundServer(create_app(runtime.settings, runtime=runtime), port=free_port) as server:
        yield server.url


def enrol(runtime: Runtime, username: str, did: str | None = None) -> CustomerPrincipal:
    return runtime.customers.create(
        username=username, password=PASSWORD, display_name=username, jurisdiction="CN", did=did
    )


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@contextmanager
def browser(base_url: str, username: str) -> Iterator[httpx.Client]:
    """A signed-in portal session: a client with its own cookies that went through the sign-in form."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        form = http.get("/portal/sign-in")
        signed_in = http.post(
            "/portal/sign-in", data={"csrf_token": csrf_token(form.text), "username": username, "password": PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text
        yield http


def take_custody(http: httpx.Client) -> httpx.Response:
    """Submit the confirm page's form as a browser would: its CSRF token and the ticked box."""
    confirm = http.get("/portal/account/custody")
    assert confirm.status_code == 200, confirm.text
    return http.post("/portal/account/custody", data={"csrf_token": csrf_token(confirm.text), "understood": "1"})


def shown_jwk(page: str) -> dict[str, Any]:
    found = re.search(r'<textarea id="private-jwk"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found is not None
    jwk: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return jwk


def downloaded_jwk(page: str) -> dict[str, Any]:
    found = re.search(r'href="data:application/jwk\+json;base64,([A-Za-z0-9+/=]+)" download="([^"]+)"', page)
    assert found is not None and found.group(2).endswith(".json")
    jwk: dict[str, Any] = json.loads(base64.b64decode(found.group(1)))
    return jwk


def _did_x(did: str) -> str:
    return str(public_jwk(public_key_from_multibase(did.removeprefix("did:key:")))["x"])


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def custody_entries(runtime: Runtime) -> list[int]:
    return [i for i in range(runtime.ledger.size()) if parse_envelope(runtime.ledger.entry(i))["type"] == CUSTODY_EVENT]


def test_the_account_page_shows_the_did_and_that_consentry_holds_its_key(runtime: Runtime, base_url: str) -> None:
    customer = enrol(runtime, "li.wei")
    with browser(base_url, "li.wei") as http:
        page = http.get("/portal/account")
    assert page.status_code == 200
    assert "Your identifier (DID)" in page.text
    assert f'<code id="my-did" class="wrap-anywhere">{customer.did}</code>' in page.text
    assert 'data-custody="held"' in page.text
    assert "Consentry holds the private key of your identifier for you" in page.text
    assert '<a class="button primary" href="/portal/account/custody">Take custody of your key</a>' in page.text


def test_the_confirm_page_says_the_key_is_shown_once_and_releases_nothing(runtime: Runtime, base_url: str) -> None:
    customer = enrol(runtime, "li.wei")
    size = runtime.ledger.size()
    with browser(base_url, "li.wei") as http:
        confirm = http.get("/portal/account/custody")
        assert confirm.status_code == 200
        assert "The key is shown once" in confirm.text
        assert "Consentry deletes its copy" in confirm.text
        assert 'form method="post" action="/portal/account/custody"' in confirm.text
        assert 'name="understood" value="1" required' in confirm.text
        # Submitting without ticking the box goes back to the explanation, and releases nothing either.
        unticked = http.post(
            "/portal/account/custody", data={"csrf_token": csrf_token(confirm.text)}, follow_redirects=False
        )
        assert (unticked.status_code, unticked.headers["location"]) == (303, "/portal/account/custody")
    assert custody_state(runtime.engine, customer.customer_id).gateway_holds_key
    assert runtime.ledger.size() == size


def test_taking_custody_shows_once_the_jwk_of_the_dids_key_and_records_the_release(
    runtime: Runtime, base_url: str
) -> None:
    customer = enrol(runtime, "li.wei")
    assert customer.did is not None
    multibase = customer.did.removeprefix("did:key:")
    with browser(base_url, "li.wei") as http:
        released = take_custody(http)
        assert released.status_code == 200
        assert released.headers["cache-control"] == "no-store"
        jwk = shown_jwk(released.text)
        assert downloaded_jwk(released.text) == jwk
        assert (jwk["kty"], jwk["crv"], jwk["kid"]) == ("OKP", "Ed25519", did_key_verification_method(multibase))
        # The public half is the DID's key, and the private half is that key's.
        did_key = public_key_from_multibase(multibase)
        assert jwk["x"] == public_jwk(did_key)["x"]
        private = Ed25519PrivateKey.from_private_bytes(_unb64u(jwk["d"]))
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert raw == did_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

        [index] = custody_entries(runtime)
        envelope = parse_envelope(runtime.ledger.entry(index))
        assert (envelope["actor"], envelope["subject"]) == (
            customer.actor,
            runtime.subject_pseudonym(customer.customer_id),
        )
        assert runtime.ledger.payload(index) == {"did": customer.did, "to": "subject"}
        assert f'href="/portal/ledger/{index}"' in released.text

        state = custody_state(runtime.engine, customer.customer_id)
        assert not state.gateway_holds_key and state.released_ledger_index == index

        account = http.get("/portal/account")
        assert 'data-custody="released"' in account.text
        assert "You took custody of the private key on" in account.text
        assert f'<a href="/portal/ledger/{index}">Ledger entry {index}, recording the release</a>' in account.text
        assert "Take custody of your key</a>" not in account.text
        entry = http.get(f"/portal/ledger/{index}")
        assert entry.status_code == 200 and CUSTODY_EVENT in entry.text


def test_a_second_attempt_shows_the_released_state_and_never_the_key(runtime: Runtime, base_url: str) -> None:
    enrol(runtime, "li.wei")
    with browser(base_url, "li.wei") as http:
        confirm = http.get("/portal/account/custody")
        token = csrf_token(confirm.text)
        first = http.post("/portal/account/custody", data={"csrf_token": token, "understood": "1"})
        secret = shown_jwk(first.text)["d"]

        # The same form submitted again (a reload, the back button): the key is gone.
        again = http.post("/portal/account/custody", data={"csrf_token": token, "understood": "1"})
        assert again.status_code == 409
        assert "You have already taken custody of this key" in again.text
        assert 'data-custody="released"' in again.text
        # And no page shows it again: the confirm page now sends back to the account.
        confirm_again = http.get("/portal/account/custody", follow_redirects=False)
        assert (confirm_again.status_code, confirm_again.headers["location"]) == (303, "/portal/account#did-heading")
        for path in ("/portal/account", "/portal/account/custody"):
            page = http.get(path, follow_redirects=True)
            assert page.status_code == 200 and secret not in page.text and "private-jwk" not in page.text
        assert secret not in again.text and "private-jwk" not in again.text
    assert len(custody_entries(runtime)) == 1


def test_a_release_without_this_sessions_csrf_token_is_refused(runtime: Runtime, base_url: str) -> None:
    customer = enrol(runtime, "li.wei")
    enrol(runtime, "wang.fang")
    with browser(base_url, "li.wei") as http, browser(base_url, "wang.fang") as other:
        missing = http.post("/portal/account/custody", data={"understood": "1"})
        assert missing.status_code == 403 and "This form has expired" in missing.text
        foreign = csrf_token(other.get("/portal/account/custody").text)  # a valid token, of another session
        stolen = http.post("/portal/account/custody", data={"csrf_token": foreign, "understood": "1"})
        assert stolen.status_code == 403
        assert "private-jwk" not in missing.text + stolen.text
    assert custody_state(runtime.engine, customer.customer_id).gateway_holds_key
    assert custody_entries(runtime) == []


def test_each_session_only_ever_sees_and_releases_its_own_key(runtime: Runtime, base_url: str) -> None:
    li = enrol(runtime, "li.wei")
    wang = enrol(runtime, "wang.fang")
    assert li.did is not None and wang.did is not None
    with browser(base_url, "li.wei") as li_http, browser(base_url, "wang.fang") as wang_http:
        li_account = li_http.get("/portal/account").text
        assert li.did in li_account and wang.did not in li_account

        released = take_custody(wang_http)
        jwk = shown_jwk(released.text)
        assert jwk["kid"].startswith(wang.did + "#") and li.did not in released.text
        [index] = custody_entries(runtime)

        li_account = li_http.get("/portal/account").text
        assert 'data-custody="held"' in li_account and wang.did not in li_account
        assert li_http.get(f"/portal/ledger/{index}").status_code == 404  # Wang's release is not Li's to read
        assert custody_state(runtime.engine, li.customer_id).gateway_holds_key

        li_released = shown_jwk(take_custody(li_http).text)
        assert li_released["kid"].startswith(li.did + "#") and li_released["d"] != jwk["d"]


def test_anonymous_visitors_are_sent_to_sign_in_and_release_nothing(runtime: Runtime, base_url: str) -> None:
    customer = enrol(runtime, "li.wei")
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        for method in ("GET", "POST"):
            answer = anonymous.request(method, "/portal/account/custody", follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/portal/sign-in?next=/portal/account/custody"
    assert custody_state(runtime.engine, customer.customer_id).gateway_holds_key


def test_a_wallet_did_offers_no_custody_because_consentry_never_held_its_key(runtime: Runtime, base_url: str) -> None:
    enrol(runtime, "li.wei", did=WALLET_DID)
    with browser(base_url, "li.wei") as http:
        account = http.get("/portal/account")
        assert WALLET_DID in account.text and 'data-custody="wallet"' in account.text
        assert "Consentry has never held its private key" in account.text
        assert "/portal/account/custody" not in account.text
        confirm = http.get("/portal/account/custody", follow_redirects=False)
        assert confirm.status_code == 303
        refused = http.post("/portal/account/custody", data={"csrf_token": csrf_token(account.text), "understood": "1"})
        assert refused.status_code == 409 and "Consentry has never held its key" in refused.text
    assert custody_entries(runtime) == []


def test_a_customer_enrolled_before_dids_gets_their_did_with_the_key(runtime: Runtime, base_url: str) -> None:
    """Enrolled by a tool without the custody key: no DID yet. Taking custody creates it and hands out its key."""
    customer = CustomerStore(runtime.engine).create(
        username="li.wei", password=PASSWORD, display_name="Li Wei", jurisdiction="CN"
    )
    assert customer.did is None
    with browser(base_url, "li.wei") as http:
        account = http.get("/portal/account")
        assert 'data-custody="not-created"' in account.text and "Not created yet" in account.text
        jwk = shown_jwk(take_custody(http).text)
    current = runtime.customers.get(customer.customer_id)
    assert current is not None and current.did is not None
    assert jwk["kid"].startswith(current.did + "#") and jwk["x"] == _did_x(current.did)


def test_the_pages_speak_chinese_too(runtime: Runtime, base_url: str) -> None:
    enrol(runtime, "li.wei")
    with browser(base_url, "li.wei") as http:
        http.headers["Accept-Language"] = "zh-CN"
        assert "您的身份标识（DID）" in http.get("/portal/account").text
        assert "密钥只在下一页显示一次" in http.get("/portal/account/custody").text
        assert "请立即保存您的密钥" in take_custody(http).text


def test_wallet_sign_in_challenges_share_the_apis_per_address_limit(runtime: Runtime, base_url: str) -> None:
    """One allowance per address, whichever way in: the API's challenges spend the portal's too."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        assert http.post("/v1/session/did/challenge").status_code == 201
        assert http.get("/portal/sign-in/wallet").status_code == 200

        limited = http.get("/portal/sign-in/wallet")
        assert limited.status_code == 429
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1
        assert "Too many attempts" in limited.text and f"wait {retry_after} seconds" in limited.text
        assert 'id="wallet-challenge"' not in limited.text
        assert limited.headers["content-type"].startswith("text/html")

        # A failed sign-in shows the form with a fresh challenge: that issuance is limited as well.
        form_token = csrf_token(limited.text)
        failed = http.post("/portal/sign-in/wallet", data={"csrf_token": form_token, "presentation": "{}"})
        assert failed.status_code == 429 and 'id="wallet-challenge"' not in failed.text
        assert http.post("/v1/session/did/challenge").status_code == 429

        time.sleep(retry_after)
        again = http.get("/portal/sign-in/wallet")
        assert again.status_code == 200 and 'id="wallet-challenge"' in again.text


def test_after_erasure_the_account_says_consentry_held_the_key_until_then(runtime: Runtime, base_url: str) -> None:
    """Erasure deletes the gateway's copy: the page must not claim Consentry never held it, nor offer it."""
    enrol(runtime, "li.wei")
    with browser(base_url, "li.wei") as http:
        data = http.get("/portal/data")
        erased = http.post("/portal/data/erasure", data={"csrf_token": csrf_token(data.text), "understood": "1"})
        assert erased.status_code == 303
        deadline = time.monotonic() + 60
        while 'data-status="completed"' not in http.get("/portal/data").text:
            assert time.monotonic() < deadline, "the erasure did not complete"
            time.sleep(0.2)
        account = http.get("/portal/account")
        assert 'data-custody="erased"' in account.text
        assert "held the private key of this identifier for you until your data was erased" in account.text
        assert "never held" not in account.text
        assert "/portal/account/custody" not in account.text
        refused = http.post("/portal/account/custody", data={"csrf_token": csrf_token(account.text), "understood": "1"})
        assert refused.status_code == 409
        assert "deleted its copy of your key when your data was erased" in refused.text
    assert custody_entries(runtime) == []
