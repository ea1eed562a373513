"""Taking custody of one's DID key in Chromium: the account page, the confirm page, the page that shows the
key once (and downloads it as a file), then the released state with its ledger entry. axe-core checks the
confirm and result pages in both languages. Every step is a link or a plain form, so it needs no script."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from credentials import public_jwk, public_key_from_multibase
from tests.browser.conftest import PortalServer
from tests.browser.portal import serious_violations, sign_in

pytestmark = pytest.mark.browser


def _did_key_x(did: str) -> str:
    return str(public_jwk(public_key_from_multibase(did.removeprefix("did:key:")))["x"])


def test_a_customer_takes_custody_of_their_key_through_the_ui(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("custody.user", "Custody User")
    page = new_page("en-US")
    sign_in(page, "custody.user", path="/portal/sign-in?next=/portal/account")
    page.wait_for_url("**/portal/account")
    did = page.locator("#my-did").inner_text()
    assert did.startswith("did:key:z6Mk")
    assert "Consentry holds the private key" in page.locator("#did").inner_text()

    page.get_by_role("link", name="Take custody of your key").click()
    page.wait_for_url("**/portal/account/custody")
    assert page.get_by_role("heading", level=1).inner_text() == "Take custody of your key"
    assert "The key is shown once" in page.inner_text("main")
    assert serious_violations(page) == []

    page.get_by_label("I understand that the key is shown only once").check()
    page.get_by_role("button", name="Show my key and delete Consentry's copy").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Your private key"
    assert serious_violations(page) == []
    jwk = json.loads(page.get_by_label("Private key (JWK)").input_value())
    assert (jwk["kty"], jwk["crv"], jwk["x"]) == ("OKP", "Ed25519", _did_key_x(did))
    assert jwk["kid"].startswith(did + "#") and jwk["d"]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the key (JWK file)").click()
    download = download_info.value
    assert download.suggested_filename == "consentry-did-key.jwk.json"
    assert json.loads(Path(download.path()).read_text(encoding="utf-8")) == jwk

    page.get_by_role("link", name="Back to my account").click()
    page.wait_for_url("**/portal/account")
    section = page.locator("#did").inner_text()
    assert "You took custody of the private key on" in section and jwk["d"] not in page.content()
    assert page.get_by_role("link", name="Take custody of your key").count() == 0
    page.get_by_role("link", name="recording the release").click()
    assert "customer.did.custody" in page.inner_text("main")
    assert "Verified" in page.get_by_role("status").inner_text()


def test_the_custody_pages_in_chinese_are_accessible_and_show_the_key(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("custody.zh", "托管 用户")
    page = new_page("zh-CN")
    sign_in(page, "custody.zh", path="/portal/sign-in?next=/portal/account")
    page.wait_for_url("**/portal/account")
    did = page.locator("#my-did").inner_text()
    page.get_by_role("link", name="取回您的密钥").click()
    page.wait_for_url("**/portal/account/custody")
    assert serious_violations(page) == []
    page.get_by_label("我了解密钥只显示一次").check()
    page.get_by_role("button", name="显示我的密钥并删除 Consentry 的副本").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "您的私钥"
    assert serious_violations(page) == []
    shown = json.loads(page.get_by_label("私钥（JWK）").input_value())
    href = page.get_by_role("link", name="下载密钥（JWK 文件）").get_attribute("href")
    assert json.loads(base64.b64decode(href.removeprefix("data:application/jwk+json;base64,"))) == shown
    assert shown["x"] == _did_key_x(did)
