"""What browser tests do over and over: sign in, read the CSRF-protected forms, check accessibility."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
_axe = Axe()


def sign_in(page: Any, username: str, password: str = PASSWORD, *, path: str = "/portal/sign-in") -> None:
    page.goto(path)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/portal/sign-in'] button[type=submit]").click()
    page.wait_for_load_state()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2.0/2.1 A and AA rules)."""
    results = _axe.run(
        page,
        options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}},
    )
    found = results.response["violations"]
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in found
        if violation["impact"] in ("serious", "critical")
    ]


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Refresh `docs/screenshots/<name>.png` when CONSENTRY_SCREENSHOTS=1 (so plain test runs leave the tree clean)."""
    if os.environ.get("CONSENTRY_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
