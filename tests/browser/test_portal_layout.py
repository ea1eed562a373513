"""The portal on a phone: at 390 CSS pixels no page scrolls sideways, in either language, with real content
(a consent matrix, a proxied read in "who used my data", a receipt, an erasure-free data page, points)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.portal.web import NAV_ITEMS
from tests.browser.conftest import PortalServer
from tests.browser.portal import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
CONFIRM = (
    "/portal/consents/confirm?recipient=stuttgart-rnd&purpose=joint_rnd"
    "&category=vehicle.fault_codes&category=location.precise"
)


def _overflow(page: Any) -> dict[str, int]:
    return dict(
        page.evaluate(
            "() => ({scrollWidth: document.documentElement.scrollWidth,"
            " clientWidth: document.documentElement.clientWidth})"
        )
    )


def _wide(page: Any) -> list[str]:
    """The outermost elements reaching past the right edge (to say which part of the page overflows)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
              .filter(e => getComputedStyle(e).position === 'absolute' || !e.closest('.table-scroll'))
              .slice(0, 8)
              .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                  + ' ' + (e.textContent || '').trim().slice(0, 40))"""
        )
    )


def _populate(page: Any, portal_server: PortalServer, subject: str) -> int:
    """A consent (so a receipt exists) and a proxied read (so the timeline and the value page have entries)."""
    page.goto("/portal/consents")
    page.locator('td[data-cell="dealer-sh-4s|vehicle.mileage|repair_prediction"]').get_by_role(
        "button", name="Give consent"
    ).click()
    page.wait_for_url("**/portal/consents?done=given*")
    token = portal_server.crm_token("layout-dealer", "dealer-sh-4s", ["repair_prediction"])
    read = httpx.get(
        portal_server.url(f"/v1/proxy/vehicle-cloud/customers/{subject}"),
        headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "repair_prediction"},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    return int(read.json()["ledger_index"])


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_no_portal_page_scrolls_sideways_at_390_pixels(browser: Any, portal_server: PortalServer, locale: str) -> None:
    username = f"phone.{locale.lower()}"
    subject = "fleet-0031" if locale == "en-US" else "fleet-0032"
    portal_server.enrol(username, "Phone User", source_subject=subject)
    context = browser.new_context(locale=locale, base_url=portal_server.base_url, viewport=PHONE)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/portal/sign-in")
        assert _overflow(page)["scrollWidth"] <= _overflow(page)["clientWidth"], "/portal/sign-in"
        sign_in(page, username)
        index = _populate(page, portal_server, subject) if locale == "en-US" else None
        paths = [f"/portal{path}" for _, path in NAV_ITEMS]
        paths += ["/portal/account/custody", CONFIRM]
        if index is not None:
            paths.append(f"/portal/ledger/{index}")
        for path in paths:
            page.goto(path)
            page.wait_for_load_state()
            sizes = _overflow(page)
            assert sizes["scrollWidth"] <= sizes["clientWidth"], (
                f"{path} scrolls sideways at 390 px: {sizes} {_wide(page)}"
            )
    finally:
        context.close()
