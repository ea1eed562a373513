"""Portal routes in process: static assets by exact name only, no open redirect after sign-in, CSRF on the
sign-in form itself (login CSRF), and the security headers on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.portal import CONTENT_SECURITY_POLICY
from gateway.runtime import Runtime

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    runtime.customers.create(username="li.wei", password=PASSWORD, display_name="Li Wei", jurisdiction="CN")
    with TestClient(create_app(runtime.settings, runtime=runtime), base_url="http://127.0.0.1:8000") as http:
        yield http


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_only_the_shipped_assets_are_served(client: TestClient) -> None:
    css = client.get("/portal/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/portal/static/portal.js").headers["content-type"].startswith("text/javascript")
    for name in ("nope.css", "..%2F..%2Fsettings.py", "%2E%2E%2Fi18n.py", "portal.css%00.js"):
        assert client.get(f"/portal/static/{name}").status_code == 404


def test_after_sign_in_the_browser_goes_only_to_a_portal_path(client: TestClient) -> None:
    for hostile in ("https://evil.example/", "//evil.example/portal/", "/v1/me"):
        form = client.get("/portal/sign-in")
        answer = client.post(
            "/portal/sign-in",
            data={"csrf_token": _token(form.text), "username": "li.wei", "password": PASSWORD, "next": hostile},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/portal/"
        client.cookies.delete("consentry_session")


def test_the_sign_in_form_needs_its_csrf_token(client: TestClient) -> None:
    client.get("/portal/sign-in")
    answer = client.post("/portal/sign-in", data={"username": "li.wei", "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403
    assert "consentry_session" not in answer.headers.get("set-cookie", "")


def test_pages_carry_the_security_headers_and_the_csrf_cookie_is_strict(client: TestClient) -> None:
    page = client.get("/portal/sign-in")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("consentry_csrf=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
