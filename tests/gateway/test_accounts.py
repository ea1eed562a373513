"""Client registration rules, secret rotation, customer passwords (argon2id), DIDs and the login throttle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import Engine

from gateway.auth.clients import ClientRegistrationError
from gateway.auth.customers import InvalidCustomerError, LoginLockedError, LoginThrottle
from gateway.auth.passwords import WeakPasswordError, hash_password, verify_password
from gateway.runtime import Runtime
from gateway.store import upgrade_all
from gateway.store.database import create_db_engine


def register(runtime: Runtime, **overrides: object) -> tuple[object, str | None]:
    fields: dict[str, object] = {
        "name": "Dealer",
        "organization": "4S Ltd.",
        "roles": ["crm"],
        "scopes": ["proxy"],
        "jurisdiction": "CN",
        **overrides,
    }
    return runtime.clients.register(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_id": "a b"}, "client_id"),
        ({"jurisdiction": "China"}, "jurisdiction"),
        ({"allowed_purposes": ["has space"]}, "allowed purposes"),
        ({"roles": []}, "roles"),
        ({"scopes": ["ledger:read"]}, "needs one of the roles: admin, auditor"),
        ({"auth_method": "client_secret_post"}, "token_endpoint_auth_method"),
        ({"jwks": {"keys": []}}, "only for private_key_jwt"),
        ({"auth_method": "private_key_jwt"}, "need a jwks"),
        ({"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC"}]}}, "not a valid JWK Set"),
        ({"name": "  "}, "must not be empty"),
    ],
)
def test_inconsistent_registrations_are_refused(runtime: Runtime, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ClientRegistrationError, match=message):
        register(runtime, **overrides)


def test_a_private_key_jwt_client_has_no_secret(runtime: Runtime) -> None:
    client, secret = register(
        runtime, auth_method="private_key_jwt", jwks={"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    )
    assert secret is None
    assert not client.check_client_secret("")  # type: ignore[attr-defined]


def test_rotating_a_secret_invalidates_the_old_one(runtime: Runtime) -> None:
    _, old = register(runtime, client_id="dealer")
    assert old is not None
    new = runtime.clients.rotate_secret("dealer")
    assert new is not None
    stored = runtime.clients.get("dealer")
    assert stored is not None
    assert stored.check_client_secret(new)
    assert not stored.check_client_secret(old)
    assert runtime.clients.rotate_secret("nobody") is None


def test_disabled_clients_cannot_authenticate(runtime: Runtime) -> None:
    register(runtime, client_id="dealer")
    assert runtime.clients.set_disabled("dealer", True)
    stored = runtime.clients.get("dealer")
    assert stored is not None
    assert stored.disabled
    assert not stored.check_endpoint_auth_method("client_secret_basic", "token")
    assert runtime.oauth.query_client("dealer") is None
    assert not runtime.clients.set_disabled("nobody", True)


def test_passwords_are_argon2id_and_short_ones_refused() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse battery!")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not-a-hash", "anything at all")
    with pytest.raises(WeakPasswordError):
        hash_password("short")


def test_customers_get_a_did_at_enrolment_that_their_wallet_did_replaces(runtime: Runtime) -> None:
    customer = runtime.customers.create(
        username="li.wei", password="a long enough pw", display_name="", jurisdiction="CN"
    )
    assert customer.did is not None and customer.did.startswith("did:key:z6Mk")
    assert customer.display_name == "li.wei"
    runtime.customers.set_did(customer.customer_id, "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
    stored = runtime.customers.get(customer.customer_id)
    assert stored is not None
    assert stored.did == "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    with pytest.raises(InvalidCustomerError, match="username"):
        runtime.customers.create(
            username="no spaces allowed", password="a long enough pw", display_name="", jurisdiction="CN"
        )
    with pytest.raises(InvalidCustomerError, match="jurisdiction"):
        runtime.customers.create(username="ok.name", password="a long enough pw", display_name="", jurisdiction="CHN")


def test_an_account_enrolled_without_a_password_never_signs_in_with_one(runtime: Runtime) -> None:
    runtime.customers.create(username="fleet.0001", password=None, display_name="", jurisdiction="CN")
    for attempt in ("", "!", "a long enough pw"):
        assert runtime.customers.authenticate("fleet.0001", attempt) is None


def test_failures_outside_the_window_do_not_add_up(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.engine, 2, timedelta(seconds=-1), timedelta(minutes=5))
    for _ in range(3):
        throttle.reserve("someone", "198.51.100.7")  # each attempt starts a fresh window: never two within one
        throttle.failed("someone", "198.51.100.7")
    strict = LoginThrottle(runtime.engine, 2, timedelta(minutes=5), timedelta(minutes=5))
    for _ in range(2):
        strict.reserve("other", "198.51.100.7")
        strict.failed("other", "198.51.100.7")
    with pytest.raises(LoginLockedError) as locked:
        strict.reserve("other", "198.51.100.7")
    assert 0 < locked.value.retry_after <= 301
    strict.reserve("other", "203.0.113.9")  # the same username from elsewhere is not locked
    strict.succeeded("other", "203.0.113.9")


def test_a_success_gives_back_the_reserved_failures(runtime: Runtime) -> None:
    throttle = LoginThrottle(runtime.engine, 2, timedelta(minutes=5), timedelta(minutes=5))
    for _ in range(5):
        throttle.reserve("li.wei", "198.51.100.7")
        throttle.succeeded("li.wei", "198.51.100.7")
    throttle.reserve("li.wei", "198.51.100.7")
    throttle.failed("li.wei", "198.51.100.7")


def test_parallel_attempts_reserve_no_more_than_the_allowance(runtime: Runtime) -> None:
    """The reservation is one conditional UPDATE: racing attempts cannot all pass a check-then-record."""
    _race_for_the_allowance(runtime.engine)


@pytest.mark.postgres
def test_parallel_attempts_reserve_no_more_than_the_allowance_on_postgresql(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    try:
        upgrade_all(engine)
        _race_for_the_allowance(engine)
    finally:
        engine.dispose()


def _race_for_the_allowance(engine: Engine) -> None:
    throttle = LoginThrottle(engine, 5, timedelta(minutes=5), timedelta(minutes=5))

    def attempt(_: int) -> bool:
        try:
            throttle.reserve("victim", "198.51.100.7")
        except LoginLockedError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(attempt, range(40)))
    assert admitted == 5
