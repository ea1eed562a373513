"""Wallet-login challenges: single use, bounded life, bound to the use they were issued for — on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, func, select

from gateway.auth.did_challenges import DidChallengeStore
from gateway.store import upgrade_all
from gateway.store.tables import did_challenges


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    created = create_engine(url)
    upgrade_all(created)
    try:
        yield created
    finally:
        created.dispose()


def test_a_challenge_is_accepted_exactly_once(engine: Engine) -> None:
    store = DidChallengeStore(engine, timedelta(minutes=5))
    challenge, _ = store.issue("login")
    assert store.consume(challenge, "login")
    assert not store.consume(challenge, "login")


def test_concurrent_uses_of_one_challenge_let_exactly_one_through(engine: Engine) -> None:
    store = DidChallengeStore(engine, timedelta(minutes=5))
    challenge, _ = store.issue("login")
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: store.consume(challenge, "login"), range(8)))
    assert outcomes.count(True) == 1


def test_an_expired_challenge_is_refused_and_swept(engine: Engine) -> None:
    expired = DidChallengeStore(engine, timedelta(seconds=-1))
    stale, _ = expired.issue("login")
    assert not expired.consume(stale, "login")
    DidChallengeStore(engine, timedelta(minutes=5)).issue("login")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(did_challenges)).scalar_one() == 1


def test_a_challenge_serves_only_the_use_it_was_issued_for(engine: Engine) -> None:
    store = DidChallengeStore(engine, timedelta(minutes=5))
    bind, _ = store.issue("bind")
    assert not store.consume(bind, "login")
    assert store.consume(bind, "bind")


def test_only_a_hash_of_the_challenge_is_stored(engine: Engine) -> None:
    store = DidChallengeStore(engine, timedelta(minutes=5))
    challenge, _ = store.issue("login")
    with engine.connect() as conn:
        stored = conn.execute(select(did_challenges.c.challenge_hash)).scalars().all()
    assert challenge.encode() not in stored and len(stored[0]) == 32
