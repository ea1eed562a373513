"""Signing in and out of the portal in Chromium: password, lockout, expiry, CSRF, CSP, language, axe-core."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.store.database import create_db_engine
from gateway.store.tables import customer_sessions
from tests.browser.conftest import PortalServer
from tests.browser.portal import screenshot, serious_violations, sign_in
from tests.e2e.credential_helpers import Wallet

pytestmark = pytest.mark.browser


def test_an_anonymous_visitor_is_sent_to_sign_in_and_comes_back_after(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("zhou.min", "Zhou Min")
    page = new_page("en-US")
    page.goto("/portal/account")
    assert page.url.endswith("/portal/sign-in?next=/portal/account")
    page.locator("#username").fill("zhou.min")
    page.locator("#password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/account")
    assert page.get_by_role("heading", level=1).inner_text() == "My account"
    assert "Welcome, Zhou Min." in page.inner_text("main")


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_username(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("lock.me", "Lock Me")
    page = new_page("en-US")
    for _ in range(3):  # the server runs with CONSENTRY_LOGIN_MAX_FAILURES=3
        sign_in(page, "lock.me", "wrong password")
        assert page.get_by_role("alert").inner_text().strip() in {
            "The username or password is wrong.",
            "Too many failed attempts for this username. Please wait a while and try again.",
        }
    # Locked now: even the right password is refused, with the lockout message.
    sign_in(page, "lock.me")
    assert "Too many failed attempts" in page.get_by_role("alert").inner_text()
    assert page.url.endswith("/portal/sign-in")


def test_signing_out_ends_the_session_on_the_server(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("out.going", "Out Going")
    page = new_page("en-US")
    sign_in(page, "out.going")
    cookie = next(c for c in page.context.cookies() if c["name"] == "consentry_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/portal/sign-in?notice=signed-out")
    assert page.get_by_role("status").inner_text().strip() == "You have signed out."
    # The old cookie value no longer opens anything, through the portal or the API.
    assert httpx.get(portal_server.url("/v1/me"), cookies={"consentry_session": cookie["value"]}).status_code == 401


def test_an_expired_session_sends_the_customer_to_sign_in_with_a_notice(
    new_page: Any, portal_server: PortalServer
) -> None:
    customer_id = portal_server.enrol("ex.pired", "Ex Pired")
    page = new_page("en-US")
    sign_in(page, "ex.pired")
    page.goto("/portal/account")
    assert page.url.endswith("/portal/account")
    engine = create_db_engine(portal_server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(customer_sessions)
                .where(customer_sessions.c.customer_id == customer_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()
    page.goto("/portal/account")
    assert "notice=expired" in page.url
    assert page.get_by_role("status").inner_text().strip() == "Your session has expired. Please sign in again."


def test_a_form_post_without_this_browsers_csrf_token_is_refused(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("cs.rf", "Cs Rf")
    page = new_page("en-US")
    sign_in(page, "cs.rf")
    # Same cookies, but a token that is not this session's: a forged cross-site form would look like this.
    response = page.request.post("/portal/sign-out", form={"csrf_token": "0" * 64}, max_redirects=0)
    assert response.status == 403
    page.goto("/portal/account")
    assert page.url.endswith("/portal/account"), "the forged sign-out must not have ended the session"
    # A token minted before sign-in is bound to no session and stops working once signed in.
    anonymous = new_page("en-US")
    anonymous.goto("/portal/sign-in")
    stale = anonymous.locator("input[name=csrf_token]").first.get_attribute("value")
    assert page.request.post("/portal/sign-out", form={"csrf_token": stale}, max_redirects=0).status == 403


def test_every_page_is_served_with_a_strict_content_security_policy_and_runs_without_violations(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("csp.check", "Csp Check")
    page = new_page("en-US")
    reports: list[str] = []
    page.on("console", lambda message: reports.append(message.text))
    response = page.goto("/portal/sign-in")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert page.locator("script:not([src])").count() == 0 and page.locator("[style]").count() == 0
    sign_in(page, "csp.check")
    # The stylesheet applied (the header is the brand colour), so it was loaded under the policy.
    assert page.eval_on_selector(".site-header", "node => getComputedStyle(node).backgroundColor") == "rgb(7, 58, 106)"
    assert not [text for text in reports if "Content Security Policy" in text]


def test_the_language_follows_accept_language_and_the_switch_is_remembered(
    new_page: Any, portal_server: PortalServer
) -> None:
    page = new_page("zh-CN")
    page.goto("/portal/sign-in")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text() == "登录"
    screenshot(page, "sign-in-zh-CN")
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    assert page.get_by_role("button", name="English").get_attribute("aria-pressed") == "true"
    page.goto("/portal/sign-in")  # remembered in the cookie despite the browser's Chinese
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    screenshot(page, "sign-in-en")


def test_sign_in_and_account_pages_have_no_serious_accessibility_violations_in_either_language(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("a11y.check", "无障碍 检查")
    for locale in ("zh-CN", "en-US"):
        page = new_page(locale)
        page.goto("/portal/sign-in?notice=invalid")
        assert serious_violations(page) == []
        sign_in(page, "a11y.check", path="/portal/sign-in?next=/portal/account")
        page.wait_for_url("**/portal/account")
        assert serious_violations(page) == []
        # Keyboard: the first Tab reaches the skip link, which is visible when focused.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert re.fullmatch(r"\d+(\.\d+)?px", page.eval_on_selector(".skip-link", "n => getComputedStyle(n).left"))
        assert page.eval_on_selector(".skip-link", "n => n.getBoundingClientRect().left") >= 0


def test_the_accessibility_check_itself_catches_an_unlabelled_field(new_page: Any) -> None:
    page = new_page("en-US")
    page.set_content('<!doctype html><html lang="en"><title>t</title><main><input type="text"></main></html>')
    assert any(finding.startswith("label (critical)") for finding in serious_violations(page))


def test_a_customer_signs_in_with_their_did_wallet_and_a_replayed_presentation_is_refused(
    new_page: Any, portal_server: PortalServer
) -> None:
    wallet = Wallet.generate()
    portal_server.enrol("wallet.user", "Wallet User", did=wallet.did)
    page = new_page("en-US")
    page.goto("/portal/sign-in?next=/portal/account")
    page.get_by_role("link", name="Sign in with your wallet").click()
    challenge = page.locator("#wallet-challenge").inner_text()
    domain = page.locator("#wallet-domain").inner_text()
    presentation = json.dumps(wallet.login_presentation(challenge, domain))
    assert serious_violations(page) == []
    page.get_by_label("Signed presentation from your wallet (JSON)").fill(presentation)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/account")
    assert wallet.did in page.locator("main").inner_text()

    # The challenge was single-use: the same presentation from another browser does not sign in.
    thief = new_page("en-US")
    thief.goto("/portal/sign-in/wallet")
    thief.get_by_label("Signed presentation from your wallet (JSON)").fill(presentation)
    thief.get_by_role("button", name="Sign in").click()
    assert "does not answer a current challenge" in thief.get_by_role("alert").inner_text()
    # A wallet no account has bound is told to link it first.
    stranger = Wallet.generate()
    challenge = thief.locator("#wallet-challenge").inner_text()
    thief.get_by_label("Signed presentation from your wallet (JSON)").fill(
        json.dumps(stranger.login_presentation(challenge, domain))
    )
    thief.get_by_role("button", name="Sign in").click()
    assert "not linked to any account" in thief.get_by_role("alert").inner_text()
