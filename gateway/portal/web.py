"""Rendering portal pages: Jinja2 templates, the per-request page context and the security headers.

Every portal response goes out through `render` or `redirect`, so each one carries the same strict
Content-Security-Policy (no inline script or style at all: the CSS and JS are files under `/portal/static`),
is never cached, and has the CSRF cookie the forms need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from gateway.auth.principals import CustomerPrincipal
from gateway.portal.csrf import CSRF_COOKIE, CSRF_FIELD, CsrfGuard
from gateway.portal.i18n import LANGUAGE_COOKIE, LANGUAGES, Catalog, catalog, negotiate_language

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PORTAL_PREFIX",
    "Page",
    "local_path",
    "redirect",
    "render",
    "security_headers",
]

PORTAL_PREFIX = "/portal"
_TEMPLATES = Path(__file__).with_name("templates")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

_environment = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The signed-in navigation: (message key, path under the portal prefix), in reading order.
NAV_ITEMS: list[tuple[str, str]] = [
    ("nav.consents", "/consents"),
    ("nav.accesses", "/accesses"),
    ("nav.receipts", "/receipts"),
    ("nav.data", "/data"),
    ("nav.value", "/value"),
    ("nav.account", "/account"),
]
_environment.globals["nav_items"] = NAV_ITEMS


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def local_path(candidate: str | None, default: str = f"{PORTAL_PREFIX}/") -> str:
    """A redirect target only if it is a path inside the portal (no scheme, host or `//`): no open redirect."""
    if not candidate:
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not candidate.startswith(PORTAL_PREFIX + "/") or "\\" in candidate:
        return default
    return candidate


@dataclass
class Page:
    """What every template needs about this request: language, customer, CSRF token, current path."""

    request: Request
    language: str
    messages: Catalog
    csrf_cookie: str
    csrf_token: str
    fresh_csrf_cookie: bool
    customer: CustomerPrincipal | None = None
    secure_cookies: bool = False
    extra_cookies: list[tuple[str, str, int]] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        request: Request,
        guard: CsrfGuard,
        *,
        session: str | None,
        customer: CustomerPrincipal | None,
        secure_cookies: bool,
    ) -> Page:
        language = negotiate_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = not cookie
        cookie = cookie or guard.new_cookie()
        return cls(
            request=request,
            language=language,
            messages=catalog(language),
            csrf_cookie=cookie,
            csrf_token=guard.token(cookie, session if customer else None),
            fresh_csrf_cookie=fresh,
            customer=customer,
            secure_cookies=secure_cookies,
        )

    def finish(self, response: Response) -> Response:
        """Headers and cookies every portal response carries."""
        if self.fresh_csrf_cookie:
            response.set_cookie(
                CSRF_COOKIE,
                self.csrf_cookie,
                httponly=True,
                secure=self.secure_cookies,
                samesite="strict",
                path=PORTAL_PREFIX,
            )
        for name, value, max_age in self.extra_cookies:
            response.set_cookie(
                name, value, max_age=max_age, httponly=True, secure=self.secure_cookies, samesite="lax", path="/"
            )
        return security_headers(response)


def render(page: Page, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    messages = page.messages
    html = _environment.get_template(template).render(
        _=messages.gettext,
        m=messages,
        page=page,
        lang=page.language,
        languages=LANGUAGES,
        csrf_field=CSRF_FIELD,
        prefix=PORTAL_PREFIX,
        **context,
    )
    return page.finish(HTMLResponse(html, status_code=status_code))  # type: ignore[return-value]


def redirect(page: Page, target: str) -> Response:
    """Post/Redirect/Get: 303 so a reload never re-submits a form."""
    return page.finish(RedirectResponse(target, status_code=303))
