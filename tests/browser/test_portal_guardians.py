"""A guardian in Chromium (issue 14, point 2): the minor's page says who decides and offers no consent to give;
the guardian, linked with `consentry customer link-guardian`, opens the minor's page from their own and gives the
consent on the minor's behalf, confirming the child's data category by name."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from tests.browser.conftest import CONSENTRY, PortalServer
from tests.browser.portal import serious_violations, sign_in

pytestmark = pytest.mark.browser


def link_guardian(server: PortalServer, minor: str, guardian: str) -> None:
    env = {**os.environ, "CONSENTRY_DATA_DIR": str(server.data_dir), "CONSENTRY_ISSUER": server.base_url}
    env.pop("CONSENTRY_DATABASE_URL", None)
    linked = subprocess.run(
        [CONSENTRY, "customer", "link-guardian", "--minor", minor, "--guardian", guardian],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linked.returncode == 0, linked.stderr


def test_the_guardian_gives_consent_on_the_minors_page(new_page: Any, portal_server: PortalServer) -> None:
    portal_server.enrol("browser.minor", "Xiao Ming", customer_type="minor")
    portal_server.enrol("browser.guardian", "Wang Jun")
    link_guardian(portal_server, "browser.minor", "browser.guardian")

    minor = new_page("en-US")
    sign_in(minor, "browser.minor", path="/portal/sign-in?next=/portal/consents")
    minor.wait_for_url("**/portal/consents")
    decides = minor.locator("#guardian-decides").inner_text()
    assert "under 14" in decides and "Wang Jun" in decides
    assert minor.get_by_role("button", name="Give consent").count() == 0
    assert minor.get_by_role("link", name="Give consent").count() == 0

    page = new_page("en-US")
    sign_in(page, "browser.guardian", path="/portal/sign-in?next=/portal/consents")
    page.wait_for_url("**/portal/consents")
    page.get_by_role("link", name="Manage the consents of Xiao Ming").click()
    page.wait_for_url("**/portal/consents?ward=*")
    assert "You are deciding for Xiao Ming" in page.locator("#guardian-acting").inner_text()
    assert serious_violations(page) == []

    vin = page.locator('td[data-cell="dealer-sh-4s|vehicle.vin|repair_prediction"]')
    vin.get_by_role("link", name="Give consent").click()
    page.wait_for_url("**/portal/consents/confirm?*")
    page.get_by_label("Vehicle identification number", exact=False).check()
    page.get_by_role("button", name="Give consent").click()
    page.wait_for_url("**/portal/consents?ward=*done=given*")
    vin = page.locator('td[data-cell="dealer-sh-4s|vehicle.vin|repair_prediction"]')
    assert vin.get_attribute("data-state") == "given"

    minor.reload()
    assert (
        minor.locator('td[data-cell="dealer-sh-4s|vehicle.vin|repair_prediction"]').get_attribute("data-state")
        == "given"
    )
