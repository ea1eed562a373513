"""Every portal page answers 200 for every demo customer, in both languages (issue 14, point 5).

Against the real demo (`DemoStack`: the vehicle cloud and `consentry serve`, seeded by `seed_demo`), as each demo
customer and guardian (enumerated from the seed, not a copy), the test walks the portal as a browser would: it
follows every portal link from the navigation on, then gives one consent through the page's own form (so the
states, receipts and ledger entries a first action creates are on the pages too; a minor's guardian gives it on
the minor's page) and walks again. Every GET route the portal declares must have been reached, so a new page
cannot escape the walk.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from starlette.routing import Route

from gateway.demo.seed import DEMO_GUARDIANS, DEMO_PEOPLE, DemoCustomer, DemoGuardian
from gateway.demo.stack import DemoStack
from gateway.portal import LANGUAGE_COOKIE, LANGUAGES, PORTAL_PREFIX
from gateway.portal.web import NAV_ITEMS
from gateway.routers.portal import router as portal_router
from tests.e2e.conftest import _free_port

# Pages for a visitor who is not signed in; the assets are files, not pages.
SIGNED_OUT = (f"{PORTAL_PREFIX}/sign-in", f"{PORTAL_PREFIX}/sign-in/wallet")
NOT_PAGES = (f"{PORTAL_PREFIX}/static/",)
MAX_PAGES = 400  # per walk: the demo's portal has far fewer; reaching it means the walk is looping


def _page_routes() -> dict[str, re.Pattern[str]]:
    """Every GET route the portal declares (its own source of truth), as a pattern over paths."""
    routes = {}
    for route in portal_router.routes:
        if isinstance(route, Route) and "GET" in (route.methods or set()):
            if route.path in SIGNED_OUT or route.path.startswith(NOT_PAGES):
                continue
            routes[route.path] = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.path) + "$")
    return routes


class _Forms(HTMLParser):
    """The forms of a page: action and the inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append((found.get("action") or "", []))
        elif tag == "input" and self.forms and found.get("name"):
            self.forms[-1][1].append((found["name"] or "", found.get("value") or ""))


def _links(page: str) -> set[str]:
    hrefs = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)}
    return {
        h.split("#", 1)[0]
        for h in hrefs
        if h.startswith(PORTAL_PREFIX + "/") and not h.startswith(NOT_PAGES) and not h.startswith(SIGNED_OUT)
    }


def _walk(http: httpx.Client, language: str, who: str) -> set[str]:
    """Fetch every portal page reachable from the navigation; return the URLs fetched."""
    queue = [PORTAL_PREFIX + "/"] + [PORTAL_PREFIX + path for _, path in NAV_ITEMS]
    seen: set[str] = set()
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        assert len(seen) <= MAX_PAGES, f"more than {MAX_PAGES} pages for {who}: the walk loops"
        response = http.get(url, follow_redirects=True)
        assert response.status_code == 200, f"{who} ({language}) {url}: {response.status_code}\n{response.text[:2000]}"
        if response.headers["content-type"].startswith("text/html"):
            assert f'<html lang="{language}">' in response.text, f"{url} is not in {language}"
            assert urlsplit(str(response.url)).path != f"{PORTAL_PREFIX}/sign-in", f"{who} was signed out at {url}"
            queue.extend(sorted(_links(response.text) - seen))
    return seen


def _give_first_offered_consent(http: httpx.Client, who: str, page_url: str = f"{PORTAL_PREFIX}/consents") -> None:
    """Submit the consents page's first "give" form, exactly as the page built it; where every offer needs the
    separate confirmation (a minor's data under PIPL), the first confirmation page's form, every box ticked."""
    page = http.get(page_url)
    parser = _Forms()
    parser.feed(page.text)
    offered = [(action, fields) for action, fields in parser.forms if action.endswith("/consents/grant")]
    if not offered:
        confirm = sorted(h for h in _links(page.text) if h.startswith(f"{PORTAL_PREFIX}/consents/confirm?"))
        assert confirm, f"{who} is offered no consent to give"
        parser = _Forms()
        parser.feed(http.get(confirm[0]).text)
        offered = [(action, fields) for action, fields in parser.forms if action.endswith("/consents/grant")]
    assert offered, f"{who} is offered no consent to give"
    action, fields = offered[0]
    answer = http.post(action, content=urlencode(fields), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 303, f"{who}: {answer.status_code} {answer.text[:500]}"
    assert "error=" not in answer.headers["location"], f"{who}: {answer.headers['location']}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    directory: Path = tmp_path_factory.mktemp("portal-pages") / "demo"
    with DemoStack(directory, port=_free_port(), upstream_port=_free_port()) as stack:
        yield stack


@contextmanager
def _signed_in(stack: DemoStack, username: str, language: str) -> Iterator[httpx.Client]:
    """A browser-like client in `language` that saw the signed-out pages, then signed in as `username`."""
    assert stack.world is not None
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        http.cookies.set(LANGUAGE_COOKIE, language)
        for page in SIGNED_OUT:
            answer = http.get(page)
            assert answer.status_code == 200 and f'<html lang="{language}">' in answer.text, page
        password = stack.world.passwords[username]
        signed_in = http.post("/v1/session", json={"username": username, "password": password})
        assert signed_in.status_code == 200, signed_in.text
        yield http


def _guardian_of(person: DemoCustomer) -> DemoGuardian | None:
    return next((g for g in DEMO_GUARDIANS if g.ward == person.username), None)


@pytest.mark.parametrize("person", DEMO_PEOPLE, ids=[p.username for p in DEMO_PEOPLE])
def test_every_portal_page_answers_200_for_every_demo_customer_in_both_languages(
    demo: DemoStack, person: DemoCustomer
) -> None:
    routes = _page_routes()
    reached: set[str] = set()
    for language in LANGUAGES:
        with _signed_in(demo, person.username, language) as http:
            reached |= _walk(http, language, person.username)
    # A first action (the first consent the page offers) brings receipts, a DID and new ledger entries; a minor's
    # is given by their guardian, on the minor's page.
    guardian = _guardian_of(person)
    if guardian is None:
        with _signed_in(demo, person.username, LANGUAGES[0]) as http:
            _give_first_offered_consent(http, person.username)
    else:
        assert demo.world is not None
        ward = demo.world.customer_ids[person.source_subject]
        with _signed_in(demo, guardian.username, LANGUAGES[0]) as http:
            _give_first_offered_consent(http, guardian.username, f"{PORTAL_PREFIX}/consents?ward={ward}")
    for language in LANGUAGES:
        with _signed_in(demo, person.username, language) as http:
            reached |= _walk(http, language, person.username)
    paths = {urlsplit(url).path for url in reached}
    unreached = [route for route, pattern in routes.items() if not any(pattern.match(p) for p in paths)]
    assert not unreached, f"{person.username}: the walk never reached {unreached}"


@pytest.mark.parametrize("guardian", DEMO_GUARDIANS, ids=[g.username for g in DEMO_GUARDIANS])
def test_every_portal_page_answers_200_for_every_demo_guardian_in_both_languages(
    demo: DemoStack, guardian: DemoGuardian
) -> None:
    """The walk follows the guardian's links to each minor's consents page (and every page from there)."""
    for language in LANGUAGES:
        with _signed_in(demo, guardian.username, language) as http:
            reached = _walk(http, language, guardian.username)
        assert any("ward=" in url for url in reached), f"{guardian.username} never reached a minor's page"
