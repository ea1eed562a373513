"""My consents in Chromium: give and withdraw per cell, row and column; the separate confirmation that a
sensitive category (PIPL Art. 29) and a transfer abroad (Art. 39) need; withdraw all marketing; no JavaScript."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import PortalServer
from tests.browser.portal import screenshot, serious_violations, sign_in

pytestmark = pytest.mark.browser


def cell(page: Any, recipient: str, category: str, purpose: str) -> Any:
    return page.locator(f'td[data-cell="{recipient}|{category}|{purpose}"]')


def open_consents(page: Any, username: str) -> None:
    sign_in(page, username, path="/portal/sign-in?next=/portal/consents")
    page.wait_for_url("**/portal/consents")


def test_give_and_withdraw_one_cell_with_the_agreement_version_and_a_ledger_entry(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("cell.user", "Cell User")
    page = new_page("en-US")
    open_consents(page, "cell.user")
    phone = cell(page, "dealer-sh-4s", "contact.phone", "repair_prediction")
    assert phone.get_attribute("data-state") == "not_asked"
    phone.get_by_role("button", name="Give consent — Phone number for Repair prediction").click()
    page.wait_for_url("**/portal/consents?done=given*")
    assert "Your consent has been recorded" in page.get_by_role("status").inner_text()
    phone = cell(page, "dealer-sh-4s", "contact.phone", "repair_prediction")
    assert phone.get_attribute("data-state") == "given"
    assert "Agreement version 1." in phone.inner_text()
    # The neighbouring cell was not touched: consent is per cell.
    assert cell(page, "dealer-sh-4s", "vehicle.vin", "repair_prediction").get_attribute("data-state") == "not_asked"

    phone.get_by_role("link", name="Ledger entry").click()
    assert "Verified: the entry is included in the signed log" in page.get_by_role("status").inner_text()
    assert page.locator("main").inner_text().count("consent.") >= 1
    page.go_back()

    phone = cell(page, "dealer-sh-4s", "contact.phone", "repair_prediction")
    phone.get_by_role("button", name="Withdraw — Phone number for Repair prediction").click()
    page.wait_for_url("**/portal/consents?done=withdrawn*")
    assert cell(page, "dealer-sh-4s", "contact.phone", "repair_prediction").get_attribute("data-state") == "withdrawn"


def test_a_sensitive_category_abroad_needs_a_separate_confirmation_naming_it(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("sensitive.user", "Sensitive User")
    page = new_page("en-US")
    open_consents(page, "sensitive.user")
    track = cell(page, "stuttgart-rnd", "location.precise", "joint_rnd")
    track.get_by_role("link", name="Give consent — Precise location track for Joint research and development").click()
    page.wait_for_url("**/portal/consents/confirm?*")
    assert page.get_by_role("heading", level=1).inner_text() == "Separate consent"
    sensitive = page.get_by_label(
        "I separately consent to the processing of my Precise location track, which is sensitive personal "
        "information (PIPL)."
    )
    abroad = page.get_by_label(
        "I separately consent to my data being transferred abroad to Stuttgart Automotive Research GmbH (DE)."
    )
    offer = (
        "In return: Each use of your data earns you 5 points towards servicing, and we donate CNY 2 per use to the "
        "Tongji University automotive research fund."
    )
    assert page.locator("p.notice").inner_text() == offer
    assert serious_violations(page) == []
    screenshot(page, "consent-confirmation-en")
    # The browser will not submit until both are ticked; the server refuses a submission without them too.
    page.get_by_role("button", name="Give consent").click()
    assert page.url.split("?")[0].endswith("/portal/consents/confirm")
    sensitive.check()
    page.get_by_role("button", name="Give consent").click()
    assert page.url.split("?")[0].endswith("/portal/consents/confirm"), "the transfer abroad is still unconfirmed"
    abroad.check()
    page.get_by_role("button", name="Give consent").click()
    page.wait_for_url("**/portal/consents?done=given*")
    assert cell(page, "stuttgart-rnd", "location.precise", "joint_rnd").get_attribute("data-state") == "given"


def test_the_server_refuses_a_sensitive_grant_whose_confirmation_was_not_ticked(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("forged.user", "Forged User")
    page = new_page("en-US")
    open_consents(page, "forged.user")
    page.goto("/portal/consents/confirm?recipient=stuttgart-rnd&purpose=joint_rnd&category=location.precise")
    fields = page.locator("form[action='/portal/consents/grant'] input[type=hidden]")
    form = [(fields.nth(i).get_attribute("name"), fields.nth(i).get_attribute("value")) for i in range(fields.count())]
    # What a client that skips the checkboxes would send: the confirmation flag without the named categories.
    response = page.request.post(
        "/portal/consents/grant",
        headers={"content-type": "application/x-www-form-urlencoded"},
        data=httpx.QueryParams([*form, ("cross_border", "1")]).__str__(),
        max_redirects=0,
    )
    assert response.status == 422
    assert "Please tick every confirmation" in response.text()
    page.goto("/portal/consents")
    assert cell(page, "stuttgart-rnd", "location.precise", "joint_rnd").get_attribute("data-state") == "not_asked"


def test_a_column_is_given_at_once_and_a_row_withdrawn_at_once(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("bulk.user", "Bulk User")
    page = new_page("en-US")
    open_consents(page, "bulk.user")
    section = page.locator("#recipient-dealer-sh-4s")
    section.get_by_role("button", name="Give consent — Repair prediction, all categories").click()
    page.wait_for_url("**/portal/consents?done=given*")
    column = page.locator('#recipient-dealer-sh-4s td[data-state][data-cell$="|repair_prediction"]')
    states = {column.nth(i).get_attribute("data-state") for i in range(column.count())}
    assert states == {"given"} and column.count() >= 3
    assert "Given together with" in column.first.inner_text()

    page.locator("#recipient-dealer-sh-4s").get_by_role("button", name="Withdraw — Mileage, all purposes").click()
    page.wait_for_url("**/portal/consents?done=withdrawn*")
    # Exactly the row is withdrawn (issue 14): the record behind the column is split, the rest stays given.
    column = page.locator('#recipient-dealer-sh-4s td[data-state][data-cell$="|repair_prediction"]')
    states = {
        column.nth(i).get_attribute("data-cell"): column.nth(i).get_attribute("data-state")
        for i in range(column.count())
    }
    assert states.pop("dealer-sh-4s|vehicle.mileage|repair_prediction") == "withdrawn"
    assert set(states.values()) == {"given"}


def test_withdraw_all_marketing_is_one_click(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("market.user", "Market User")
    page = new_page("en-US")
    open_consents(page, "market.user")
    withdraw_all = page.get_by_role("button", name="Withdraw all marketing consents")
    assert withdraw_all.is_disabled()
    for recipient, category in (("bright-marketing", "contact.email"), ("acme-crm", "identity.name")):
        cell(page, recipient, category, "marketing").get_by_role("button", name="Give consent").click()
        page.wait_for_url("**/portal/consents?done=given*")
    page.get_by_role("button", name="Withdraw all marketing consents").click()
    page.wait_for_url("**/portal/consents?done=marketing*")
    assert page.get_by_role("status").inner_text().strip() == "All marketing consents are withdrawn (2)."
    for recipient, category in (("bright-marketing", "contact.email"), ("acme-crm", "identity.name")):
        assert cell(page, recipient, category, "marketing").get_attribute("data-state") == "withdrawn"
    assert page.get_by_role("button", name="Withdraw all marketing consents").is_disabled()


def test_giving_and_withdrawing_work_with_javascript_switched_off(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("nojs.user", "No Script")
    page = new_page("zh-CN", javascript=False)
    open_consents(page, "nojs.user")
    vin = cell(page, "dealer-sh-4s", "vehicle.vin", "repair_prediction")
    vin.get_by_role("button", name="同意").click()
    page.wait_for_url("**/portal/consents?done=given*")
    assert cell(page, "dealer-sh-4s", "vehicle.vin", "repair_prediction").get_attribute("data-state") == "given"
    cell(page, "dealer-sh-4s", "vehicle.vin", "repair_prediction").get_by_role("button", name="撤回").click()
    page.wait_for_url("**/portal/consents?done=withdrawn*")
    assert page.get_by_role("status").inner_text().strip() == "已撤回（1 项），相关回执已吊销。"


def test_the_consents_page_is_accessible_in_both_languages(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("a11y.consents", "A11y Consents")
    for locale, name in (("zh-CN", "consents-zh-CN"), ("en-US", "consents-en")):
        page = new_page(locale)
        open_consents(page, "a11y.consents")
        assert serious_violations(page) == []
        if locale == "en-US":
            page.locator('td[data-cell="dealer-sh-4s|contact.phone|repair_prediction"]').get_by_role(
                "button", name="Give consent"
            ).click()
            page.wait_for_url("**/portal/consents?done=given*")
        page.evaluate("window.scrollTo(0, document.querySelector('#recipient-dealer-sh-4s').offsetTop - 260)")
        screenshot(page, name, full_page=False)


def test_withdrawing_one_cell_of_a_column_consent_keeps_the_others_given(
    new_page: Any, portal_server: PortalServer
) -> None:
    """Issue 14, point 4: one record behind a whole column; "Withdraw" on one cell ends exactly that cell."""
    portal_server.enrol("exact.user", "Exact User")
    page = new_page("en-US")
    open_consents(page, "exact.user")
    page.locator("#recipient-dealer-sh-4s").get_by_role(
        "button", name="Give consent — Repair prediction, all categories"
    ).click()
    page.wait_for_url("**/portal/consents?done=given*")
    mileage = cell(page, "dealer-sh-4s", "vehicle.mileage", "repair_prediction")
    assert "withdrawing this one keeps the others given" in mileage.inner_text()
    mileage.get_by_role("button", name="Withdraw — Mileage for Repair prediction").click()
    page.wait_for_url("**/portal/consents?done=withdrawn*")
    column = page.locator('#recipient-dealer-sh-4s td[data-state][data-cell$="|repair_prediction"]')
    states = {
        column.nth(i).get_attribute("data-cell"): column.nth(i).get_attribute("data-state")
        for i in range(column.count())
    }
    assert states.pop("dealer-sh-4s|vehicle.mileage|repair_prediction") == "withdrawn"
    assert set(states.values()) == {"given"} and len(states) >= 2
