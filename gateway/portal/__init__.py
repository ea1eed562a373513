"""The consent portal: templates, static assets, message catalogs and the helpers its routes share.

The routes live in `gateway.routers.portal` (sign-in, language, assets) and `gateway.portal.pages`.
"""

from gateway.portal.csrf import CSRF_COOKIE, CSRF_FIELD, CsrfGuard
from gateway.portal.i18n import LANGUAGE_COOKIE, LANGUAGES, Catalog, MissingMessageError, catalog, negotiate_language
from gateway.portal.web import CONTENT_SECURITY_POLICY, PORTAL_PREFIX, Page, local_path, redirect, render

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "PORTAL_PREFIX",
    "Catalog",
    "CsrfGuard",
    "MissingMessageError",
    "Page",
    "catalog",
    "local_path",
    "negotiate_language",
    "redirect",
    "render",
]
