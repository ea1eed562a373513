"""CSRF tokens bound to the browser: a signed double-submit cookie (OWASP CSRF Prevention Cheat Sheet).

Every page sets a random `consentry_csrf` cookie once; every form carries
`HMAC-SHA256(key, purpose || cookie || session)`. A cross-site attacker can neither read the cookie nor
compute the MAC, and binding the session means a token from before sign-in (or from another account) is
useless after it. The cookie is SameSite=Strict and HttpOnly: the token reaches forms through the server-
rendered page, never through script.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CsrfGuard"]

CSRF_COOKIE = "consentry_csrf"
CSRF_FIELD = "csrf_token"
_LABEL = b"consentry portal csrf v1"


class CsrfGuard:
    """Mints and checks form tokens with a key derived from a gateway secret (domain-separated)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, _LABEL, hashlib.sha256).digest()

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    def token(self, cookie: str, session: str | None) -> str:
        message = b"\x00".join((b"form", cookie.encode(), (session or "").encode()))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, session: str | None, submitted: str | None) -> bool:
        """True only for the token of this cookie and session; compared in constant time."""
        if not cookie or not submitted:
            return False
        return hmac.compare_digest(self.token(cookie, session).encode(), submitted.encode("utf-8", "replace"))
