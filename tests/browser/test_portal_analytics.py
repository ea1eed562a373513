"""Issue 21 in Chromium: a cell the matrix allows only for statistics says so, and "who used my data" lists the
anonymous statistic a customer's data counted in (organization, purpose, statistic, ε), in both languages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import PortalServer
from tests.browser.portal import serious_violations, sign_in
from tests.browser.test_portal_rights import RND, RND_NAME, give_joint_rnd

pytestmark = pytest.mark.browser


def test_the_statistics_a_customers_data_counted_in_are_listed(new_page: Any, portal_server: PortalServer) -> None:
    for number in (1, 2):
        portal_server.enrol(f"stats.{number}", f"Stats Customer {number}", source_subject=f"fleet-000{number}")
        page = new_page("en-US")
        sign_in(page, f"stats.{number}")
        give_joint_rnd(page)
        page.close()

    page = new_page("en-US")
    sign_in(page, "stats.1")
    page.goto("/portal/consents")
    vin = page.locator(f'td[data-cell="{RND}|vehicle.vin|joint_rnd"]')
    assert "Only anonymous statistics" in vin.inner_text()
    page.goto("/portal/accesses")
    assert page.get_by_text("Your data has not counted in any statistic.").is_visible()

    token = portal_server.crm_token("rnd-stats", RND, ["joint_rnd"], scopes=("analytics",))
    body = {"source": "vehicle-cloud", "statistic": "mean", "attribute": "mileage_km", "epsilon": 1}
    answer = httpx.post(
        portal_server.url("/v1/analytics/queries"),
        json=body,
        headers={"Authorization": f"Bearer {token}", "Consentry-Purpose": "joint_rnd"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    index = answer.json()["ledger_index"]

    page.goto("/portal/accesses")
    card = page.locator(f'li.analysis[data-ledger-index="{index}"]')
    assert RND_NAME in card.locator("h3").inner_text()
    assert "Average of mileage_km" in card.locator("dd.statistic").inner_text()
    assert card.locator("dd.epsilon").inner_text() == f"{answer.json()['epsilon']:.3g}"
    assert serious_violations(page) == []
    card.get_by_role("link", name=f"Ledger entry {index} and its proof").click()
    assert "Verified" in page.get_by_role("status").inner_text()

    chinese = new_page("zh-CN")
    sign_in(chinese, "stats.2")
    chinese.goto("/portal/accesses")
    assert chinese.get_by_text("您的数据参与的匿名统计（1）").is_visible()
    assert "mileage_km的平均值" in chinese.locator("li.analysis dd.statistic").inner_text()
    assert serious_violations(chinese) == []
