"""The choices beyond consent, in Chromium (issue 14, points 3 and 6): a Californian whose browser sends a Global
Privacy Control signal finds herself opted out of sale and sharing and can limit her sensitive data; a German
customer objects to a legitimate-interest use, restricts processing and gives a consent until a chosen day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import PortalServer
from tests.browser.portal import serious_violations, sign_in

pytestmark = pytest.mark.browser


def cell(page: Any, recipient: str, category: str, purpose: str) -> Any:
    return page.locator(f'td[data-cell="{recipient}|{category}|{purpose}"]')


def open_consents(page: Any, username: str) -> None:
    sign_in(page, username, path="/portal/sign-in?next=/portal/consents")
    page.wait_for_url("**/portal/consents")


def test_a_gpc_browser_is_opted_out_and_can_limit_sensitive_data(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("gpc.user", "Casey Californian", "US-CA")
    page = new_page("en-US")
    page.set_extra_http_headers({"Sec-GPC": "1"})
    open_consents(page, "gpc.user")
    choices = page.locator("#privacy-choices")
    assert "Global Privacy Control signal" in choices.inner_text()
    assert "You opted out of the sale and sharing" in choices.inner_text()
    assert cell(page, "bright-marketing", "contact.phone", "marketing").get_attribute("data-state") == "opted_out"
    assert serious_violations(page) == []

    page.get_by_role("button", name="Limit the Use of My Sensitive Personal Information").click()
    page.wait_for_url("**/portal/consents?done=choices*")
    assert page.get_by_role("button", name="Lift the limit").count() == 1
    assert "only used to provide the service" in page.locator("#choice-limit_sensitive").inner_text()


def test_object_restrict_and_consent_until_a_day(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("art21.user", "Dana Deutsch", "DE")
    page = new_page("en-US")
    open_consents(page, "art21.user")
    fault_codes = cell(page, "dealer-sh-4s", "vehicle.fault_codes", "repair_prediction")
    assert fault_codes.get_attribute("data-state") == "not_needed"
    page.get_by_role("button", name="Object to this use — Repair prediction").click()
    page.wait_for_url("**/portal/consents?done=objection*")
    fault_codes = cell(page, "dealer-sh-4s", "vehicle.fault_codes", "repair_prediction")
    assert fault_codes.get_attribute("data-state") == "objected"
    assert serious_violations(page) == []

    page.get_by_role("button", name="Restrict processing").click()
    page.wait_for_url("**/portal/consents?done=restriction*")
    vin = cell(page, "dealer-sh-4s", "vehicle.vin", "service_delivery")
    assert vin.get_attribute("data-state") == "restricted"
    page.get_by_role("button", name="Lift the restriction").click()
    page.wait_for_url("**/portal/consents?done=restriction*")
    assert cell(page, "dealer-sh-4s", "vehicle.vin", "service_delivery").get_attribute("data-state") == "not_needed"

    phone = cell(page, "bright-marketing", "contact.phone", "marketing")
    phone.get_by_role("link", name="Give until a date…").click()
    page.wait_for_url("**/portal/consents/confirm?*")
    assert serious_violations(page) == []
    last_day = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    page.get_by_label("Until (optional)").fill(last_day)
    page.get_by_role("button", name="Give consent").click()
    page.wait_for_url("**/portal/consents?done=given*")
    assert cell(page, "bright-marketing", "contact.phone", "marketing").get_attribute("data-state") == "given"
