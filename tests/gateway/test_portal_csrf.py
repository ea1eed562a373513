"""CSRF tokens (signed double-submit, bound to the session) and the portal's redirect targets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.portal.csrf import CsrfGuard
from gateway.portal.web import local_path

guard = CsrfGuard(b"k" * 32)


def test_the_token_of_this_cookie_and_session_is_accepted() -> None:
    cookie = guard.new_cookie()
    assert guard.valid(cookie, "session-a", guard.token(cookie, "session-a"))
    assert guard.valid(cookie, None, guard.token(cookie, None))


def test_a_token_for_another_cookie_session_or_key_is_refused() -> None:
    cookie = guard.new_cookie()
    token = guard.token(cookie, "session-a")
    assert not guard.valid(guard.new_cookie(), "session-a", token)
    assert not guard.valid(cookie, "session-b", token)
    assert not guard.valid(cookie, None, token)  # a signed-in token does not work anonymously, nor vice versa
    assert not guard.valid(cookie, "session-a", CsrfGuard(b"x" * 32).token(cookie, "session-a"))
    assert not guard.valid(None, "session-a", token)
    assert not guard.valid(cookie, "session-a", None)
    assert not guard.valid(cookie, "session-a", "")


@given(st.text(max_size=80))
def test_a_guessed_token_is_refused(guess: str) -> None:
    assert not guard.valid("cookie", "session", guess)


def test_redirects_stay_inside_the_portal() -> None:
    assert local_path("/portal/consents?x=1") == "/portal/consents?x=1"
    for hostile in ("https://evil.example/portal/", "//evil.example/portal/", "/v1/me", "/portal\\..", "", None):
        assert local_path(hostile) == "/portal/"
