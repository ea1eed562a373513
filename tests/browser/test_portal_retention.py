"""Told in advance, in Chromium: per consent when it lapses and what is deleted then; 30 days before, a notice
with one-click renewal (en and zh-CN). A gateway whose clock the test moves, in front of the demo vehicle cloud."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.seed import DemoWorld
from tests.browser.portal import screenshot, serious_violations, sign_in
from tests.e2e.clocked_gateway import move_clock, start_clocked_gateway
from tests.e2e.conftest import Gateway, _free_port, _stop
from tests.e2e.proxy_world import seed_data_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, DemoWorld]]:
    tmp: Path = tmp_path_factory.mktemp("retention-portal")
    with BackgroundServer(create_vehicle_cloud_app(), port=_free_port()) as cloud:
        world, upstreams = seed_data_dir(tmp / "data-portal", cloud.url)
        # a long sweep interval: this test looks at what is announced, not at lapses
        gateway = start_clocked_gateway(tmp, "portal", upstreams_path=str(upstreams))
        try:
            yield gateway, world
        finally:
            _stop(gateway)


def _open(browser: Any, gateway: Gateway, world: DemoWorld, locale: str) -> Any:
    context = browser.new_context(locale=locale, base_url=gateway.base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "li.wei", world.passwords["li.wei"], path="/portal/sign-in?next=/portal/consents")
    page.wait_for_url("**/portal/consents")
    return page


def test_lapse_dates_and_deletions_are_shown_and_a_notice_renews_in_one_click(
    browser: Any, clocked: tuple[Gateway, DemoWorld]
) -> None:
    gateway, world = clocked
    page = _open(browser, gateway, world, "en-US")
    table = page.locator("table[data-retention]")
    assert table.locator("tbody tr").count() == 3  # repair prediction, marketing, joint R&D
    assert page.locator("[data-lapse-notice]").count() == 0  # a year away: nothing to announce yet
    rnd = table.locator("tr", has_text="Joint research and development")
    assert "Driving behaviour" in rnd.locator("[data-deleted-at-source]").inner_text()
    assert "records of who read your data: their details after 365 days" in rnd.inner_text()
    in_two_years = (datetime.now(UTC) + timedelta(days=730)).date().isoformat()
    assert in_two_years in rnd.inner_text()

    move_clock(gateway, datetime.now(UTC) + timedelta(days=340))  # 25 days before the 365-day consents lapse
    page.reload()
    notices = page.locator("[data-lapse-notice]")
    assert notices.count() == 2
    assert "Marketing" in page.get_by_role("alert").filter(has_text="Marketing").inner_text()
    assert serious_violations(page) == []
    screenshot(page, "portal-retention-notice")

    marketing = page.get_by_role("alert").filter(has_text="Marketing")
    marketing.get_by_role("button", name="Renew now").click()
    page.wait_for_url("**/portal/consents?done=renewed*")
    assert "Renewed" in page.get_by_role("status").inner_text()
    assert page.locator("[data-lapse-notice]").count() == 1
    row = page.locator("table[data-retention] tr", has_text="Marketing")
    assert "in 365 days" in row.inner_text() or "in 364 days" in row.inner_text()

    zh = _open(browser, gateway, world, "zh-CN")
    notice = zh.locator("[data-lapse-notice]")
    assert notice.count() == 1
    assert "将于" in notice.inner_text() and "失效" in notice.inner_text()
    notice.get_by_role("button", name="立即续期").click()
    zh.wait_for_url("**/portal/consents?done=renewed*")
    assert zh.locator("[data-lapse-notice]").count() == 0
    assert "我的授权何时失效" in zh.locator("#retention-heading").inner_text()
