"""Customer sign-in over real HTTP: the session cookie's attributes, sign-out, and the profile."""

from __future__ import annotations

from tests.e2e.conftest import CUSTOMER_PASSWORD, Actors


def test_sign_in_sets_an_httponly_samesite_cookie_and_shows_only_the_own_profile(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/v1/session", json={"username": "li.wei", "password": CUSTOMER_PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # the gateway is served over plain http here; https turns it on
        me = http.get("/v1/me").json()
    assert me["customer_id"] == actors.customer_id
    assert me["username"] == "li.wei"
    assert "password_hash" not in me


def test_wrong_password_is_401_and_sets_no_cookie(actors: Actors) -> None:
    with actors.gateway.client() as http:
        response = http.post("/v1/session", json={"username": "wang.fang", "password": "not the password"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_sign_out_ends_the_session_server_side(actors: Actors) -> None:
    http = actors.gateway.customer_session("wang.fang")
    cookie = http.cookies.get("consentry_session")
    assert http.get("/v1/me").status_code == 200
    assert http.delete("/v1/session").status_code == 204
    with actors.gateway.client(cookies={"consentry_session": str(cookie)}) as replay:
        assert replay.get("/v1/me").status_code == 401
    http.close()


def test_a_forged_session_cookie_is_401(actors: Actors) -> None:
    with actors.gateway.client(cookies={"consentry_session": "forged-value"}) as http:
        assert http.get("/v1/me").status_code == 401
