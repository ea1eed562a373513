"""The customer's rights in Chromium: a CRM's proxied read appears in "who used my data" and earns points,
a receipt downloads and verifies through the API (then shows revoked after withdrawal), the export
downloads, and an erasure request is forwarded to the source system with its status shown until done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PortalServer
from tests.browser.portal import screenshot, serious_violations, sign_in

pytestmark = pytest.mark.browser

RND = "stuttgart-rnd"
RND_NAME = "Stuttgart Automotive Research GmbH"


def give_joint_rnd(page: Any) -> None:
    """Consent to the R&D partner's whole column: it holds a sensitive category and goes abroad (PIPL)."""
    page.goto("/portal/consents")
    page.locator(f"#recipient-{RND}").get_by_role(
        "link", name="Give consent — Joint research and development, all categories"
    ).click()
    page.wait_for_url("**/portal/consents/confirm?*")
    for box in page.locator("input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Give consent").click()
    page.wait_for_url("**/portal/consents?done=given*")


def test_a_proxied_read_by_a_crm_client_appears_in_the_timeline_and_earns_points(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("timeline.user", "Timeline User", source_subject="cust-1001")
    page = new_page("en-US")
    sign_in(page, "timeline.user")
    page.goto("/portal/accesses")
    assert page.get_by_text("No one has used your data yet.").is_visible()
    give_joint_rnd(page)

    token = portal_server.crm_token("rnd-crm", RND, ["joint_rnd"])
    read = httpx.get(
        portal_server.url("/v1/proxy/vehicle-cloud/customers/cust-1001"),
        headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "joint_rnd"},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    index = read.json()["ledger_index"]
    assert "vehicle.fault_codes" in read.json()["released"]

    page.goto("/portal/accesses")
    entry = page.locator(f'li.access[data-ledger-index="{index}"]')
    assert RND_NAME in entry.locator("h3").inner_text()
    assert "Joint research and development" in entry.inner_text()
    assert "Fault codes" in entry.locator("dd.released").inner_text()
    assert "Name" in entry.locator("dd.withheld").inner_text()  # never to R&D (matrix), whatever was consented
    screenshot(page, "who-used-my-data-en")

    # Filters: another recipient hides it, this recipient and today's period show it.
    page.get_by_label("Organization").select_option("acme-crm")
    page.get_by_role("button", name="Apply filters").click()
    assert page.locator("li.access").count() == 0
    assert page.get_by_text("No access matches these filters.").is_visible()
    page.get_by_label("Organization").select_option(RND)
    page.get_by_label("Purpose").select_option("joint_rnd")
    page.get_by_role("button", name="Apply filters").click()
    assert page.locator(f'li.access[data-ledger-index="{index}"]').count() == 1
    assert serious_violations(page) == []

    entry = page.locator(f'li.access[data-ledger-index="{index}"]')
    entry.get_by_role("link", name=f"Ledger entry {index} and its proof").click()
    assert "Verified" in page.get_by_role("status").inner_text()

    page.goto("/portal/value")
    assert page.locator("#points-balance").inner_text() == "5 points"
    assert page.get_by_role("link", name=f"Ledger entry {index}").is_visible()
    assert serious_violations(page) == []
    screenshot(page, "value-for-data-en")


def test_a_receipt_downloads_verifies_through_the_api_and_shows_revoked_after_withdrawal(
    new_page: Any, portal_server: PortalServer, tmp_path: Path
) -> None:
    portal_server.enrol("receipt.user", "Receipt User")
    page = new_page("en-US")
    sign_in(page, "receipt.user")
    page.goto("/portal/consents")
    cell = page.locator('td[data-cell="dealer-sh-4s|vehicle.mileage|repair_prediction"]')
    cell.get_by_role("button", name="Give consent").click()
    page.wait_for_url("**/portal/consents?done=given*")

    page.goto("/portal/receipts")
    row = page.locator("tr[data-receipt]")
    assert row.count() == 1 and row.get_attribute("data-status") == "valid"
    assert "Repair prediction" in row.inner_text() and "Mileage" in row.inner_text()
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    saved = tmp_path / "receipt.json"
    download.value.save_as(saved)
    credential = json.loads(saved.read_text(encoding="utf-8"))
    assert "VerifiableCredential" in credential["type"] and credential["proof"]
    verified = httpx.post(
        portal_server.url("/credentials/verify"), json={"verifiableCredential": credential}, timeout=30
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["verified"] is True
    assert serious_violations(page) == []
    screenshot(page, "receipts-en")

    page.goto("/portal/consents")
    page.locator('td[data-cell="dealer-sh-4s|vehicle.mileage|repair_prediction"]').get_by_role(
        "button", name="Withdraw"
    ).click()
    page.wait_for_url("**/portal/consents?done=withdrawn*")
    page.goto("/portal/receipts")
    assert page.locator("tr[data-receipt]").get_attribute("data-status") == "revoked"
    assert "Revoked" in page.locator("tr[data-receipt]").inner_text()
    refused = httpx.post(
        portal_server.url("/credentials/verify"), json={"verifiableCredential": credential}, timeout=30
    )
    assert refused.status_code == 200
    assert refused.json()["verified"] is False
    assert [entry["rule"] for entry in refused.json()["problemDetails"]] == ["status-revoked"]


def test_the_export_is_one_json_download_with_a_summary_and_the_source_record(
    new_page: Any, portal_server: PortalServer, tmp_path: Path
) -> None:
    portal_server.enrol("export.user", "Export User", source_subject="cust-1003")
    page = new_page("zh-CN")
    sign_in(page, "export.user")
    page.goto("/portal/data")
    assert serious_violations(page) == []
    screenshot(page, "my-data-zh-CN")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载我的数据（JSON）").click()
    assert download.value.suggested_filename == "consentry-export.json"
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert document["summary"].startswith("Export User 的数据导出")
    assert document["sources"]["vehicle-cloud"]["status"] == "exported"
    assert document["sources"]["vehicle-cloud"]["data"]["name"]
    assert {"consents", "receipts", "accesses", "points"} <= set(document)
    # Reading the source record for the export is itself an access, shown to the customer.
    page.goto("/portal/accesses")
    assert "您本人（数据导出）" in page.locator("li.access").first.locator("h3").inner_text()


def test_an_erasure_request_is_forwarded_and_its_status_shown_until_done(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("erase.user", "Erase User", source_subject="cust-1002")
    assert httpx.get(f"{portal_server.vehicle_cloud_url}/customers/cust-1002", timeout=10).status_code == 200
    page = new_page("en-US")
    sign_in(page, "erase.user")
    page.goto("/portal/data")
    assert "vehicle-cloud" in page.get_by_text("Source systems that will be asked").inner_text()
    page.get_by_label("I understand that erasure cannot be undone.").check()
    page.get_by_role("button", name="Request erasure").click()
    page.wait_for_url("**/portal/data?erasure=requested*")
    assert "recorded" in page.get_by_role("status").inner_text()
    # The page refreshes itself while the request is open; wait for the per-source and overall status.
    page.wait_for_selector('article.erasure[data-status="completed"]', timeout=30_000)
    source = page.locator('article.erasure tr[data-source="vehicle-cloud"]')
    assert source.get_attribute("data-status") == "erased"
    assert "Erased" in source.inner_text()
    assert httpx.get(f"{portal_server.vehicle_cloud_url}/customers/cust-1002", timeout=10).status_code == 404
    assert serious_violations(page) == []
    screenshot(page, "my-data-erasure-en")


def test_a_corrected_phone_number_is_forwarded_and_the_vehicle_cloud_changes(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("correct.user", "Correct User", source_subject="cust-1004")
    page = new_page("en-US")
    sign_in(page, "correct.user")
    page.goto("/portal/data")
    page.get_by_label("What to correct").select_option("contact.phone")
    page.get_by_label("The correct value").fill("+86 137 9999 1004")
    page.get_by_role("button", name="Send the correction").click()
    page.wait_for_url("**/portal/data?rectification=requested*")
    page.wait_for_selector('article.rectification[data-status="completed"]', timeout=30_000)
    source = page.locator('article.rectification tr[data-source="vehicle-cloud"]')
    assert source.get_attribute("data-status") == "rectified" and "Corrected" in source.inner_text()
    assert "Correction of Phone number" in page.locator("article.rectification h3").inner_text()
    record = httpx.get(f"{portal_server.vehicle_cloud_url}/customers/cust-1004", timeout=10).json()
    assert record["phone"] == "+86 137 9999 1004"
    assert serious_violations(page) == []

    page.get_by_label("What to correct").select_option("contact.email")
    page.get_by_label("The correct value").fill("not an address")
    page.get_by_role("button", name="Send the correction").click()
    assert "cannot be used for this field" in page.get_by_role("alert").inner_text()


def test_the_csv_export_downloads_and_a_transfer_to_the_rnd_partner_is_fetched_once(
    new_page: Any, portal_server: PortalServer, tmp_path: Path
) -> None:
    import zipfile

    portal_server.enrol("transfer.user", "Transfer User", source_subject="cust-1005")
    page = new_page("en-US")
    sign_in(page, "transfer.user")
    page.goto("/portal/data")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data (CSV)").click()
    saved = tmp_path / "export.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert "source_fields.csv" in archive.namelist() and "README.txt" in archive.namelist()

    page.get_by_label("Organization", exact=True).select_option(RND)
    page.get_by_role("button", name="Allow one fetch").click()
    page.wait_for_url("**/portal/data?transfer=granted*")
    row = page.locator("tr[data-transfer]")
    assert row.get_attribute("data-status") == "open" and RND_NAME in row.inner_text()
    grant = row.get_attribute("data-transfer")
    token = portal_server.crm_token("rnd-transfer", RND, ["joint_rnd"])
    fetch = portal_server.url(f"/v1/transfers/{grant}")
    first = httpx.get(fetch, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["sources"]["vehicle-cloud"]["status"] == "exported"
    second = httpx.get(fetch, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert second.status_code == 410
    page.goto("/portal/data")
    assert page.locator("tr[data-transfer]").get_attribute("data-status") == "fetched"
    assert serious_violations(page) == []


def test_the_department_a_crm_read_was_declared_for_shows_in_who_used_my_data(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("department.user", "Department User", source_subject="fleet-0033")
    token = portal_server.crm_token("acme-crm-desk", "acme-crm", ["service_delivery"])
    url = portal_server.url("/v1/proxy/vehicle-cloud/customers/fleet-0033")
    headers = {"Authorization": f"Bearer {token}", "Consentry-Purpose": "service_delivery"}
    unknown = httpx.get(url, headers={**headers, "Consentry-Department": "espionage"}, timeout=30)
    assert unknown.status_code == 400 and unknown.json()["type"].endswith("/unknown-department")
    read = httpx.get(
        url,
        headers={**headers, "Consentry-Department": "customer-service", "Consentry-Staff": "agent-7f3a"},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    index = read.json()["ledger_index"]
    for locale, department in (("en-US", "Customer service (staff member agent-7f3a)"), ("zh-CN", "客户服务部")):
        page = new_page(locale)
        sign_in(page, "department.user")
        page.goto("/portal/accesses")
        entry = page.locator(f'li.access[data-ledger-index="{index}"]')
        assert department in entry.locator("dd.department").inner_text()


def test_points_are_redeemed_for_a_catalogue_item_and_the_matched_donation_is_shown(
    new_page: Any, portal_server: PortalServer
) -> None:
    portal_server.enrol("value.user", "Value User", source_subject="fleet-0034")
    page = new_page("en-US")
    sign_in(page, "value.user")
    give_joint_rnd(page)
    token = portal_server.crm_token("rnd-value", RND, ["joint_rnd"])
    read = httpx.get(
        portal_server.url("/v1/proxy/vehicle-cloud/customers/fleet-0034"),
        headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "joint_rnd"},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    page.goto("/portal/value")
    assert page.locator("#points-balance").inner_text() == "5 points"
    assert "CNY 2.00 donated to Tongji University" in page.locator("li.donation").inner_text()
    priority = page.locator("li.priority")
    assert priority.get_attribute("data-active") == "no"  # repair prediction was not consented to
    voucher = page.locator('li[data-item="maintenance-voucher"]')
    assert voucher.get_by_role("button").is_disabled()  # 10 points: not yet
    page.locator('li[data-item="car-wash"]').get_by_role("button", name="Redeem").click()
    page.wait_for_url("**/portal/value?notice=redeemed*")
    assert page.locator("#points-balance").inner_text() == "0 points"
    row = page.locator("tbody tr").first
    assert "One free car wash" in row.inner_text() and "-5" in row.inner_text()
    index = row.get_attribute("data-ledger-index")
    page.get_by_role("link", name=f"Ledger entry {index}").click()
    assert "Verified" in page.get_by_role("status").inner_text()
    assert serious_violations(page) == []
