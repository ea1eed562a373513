"""The decision engine's read on SQLite: one dedicated connection per thread, off the pool, that still sees every
commit at once; PostgreSQL (and in-memory SQLite) stay on the pool."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event

from policies import ConsentStatus, StateUnavailableError, upgrade
from policies.runtime import PolicyRuntime, open_policies
from policies.store import SqlState
from policies.taxonomy import load_taxonomy
from tests.policies.conftest import PSEUDONYM_KEY

REPAIR = "repair_prediction"


def _checkouts(engine: Engine) -> list[int]:
    """A counter of pool checkouts on `engine`."""
    count = [0]

    @event.listens_for(engine, "checkout")
    def _checkout(*_: Any) -> None:
        count[0] += 1

    return count


def _grant(rt: PolicyRuntime, subject: str) -> str:
    record = rt.consents.grant(
        subject_id=subject, purposes=[REPAIR], categories=["vehicle"], jurisdiction="CN", actor="a"
    )
    return record.record_id


def _in_thread(fn: Any) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not failures, failures


@pytest.fixture
def state(runtime: PolicyRuntime) -> Iterator[SqlState]:
    """A state source on its own engine, as a second gateway process would read the database."""
    sql = SqlState(create_engine(runtime.ledger.engine.url), taxonomy=runtime.taxonomy, owned=True)
    yield sql
    sql.close()


def test_the_sqlite_read_checks_out_of_the_pool_once_per_thread(runtime: PolicyRuntime, state: SqlState) -> None:
    checkouts = _checkouts(state.engine)
    for _ in range(20):
        state.read("ann", REPAIR)
    assert checkouts[0] == 1
    _in_thread(lambda: [state.read("ann", REPAIR) for _ in range(5)])
    assert checkouts[0] == 2


def test_a_commit_from_another_connection_is_seen_by_the_next_read_on_the_same_thread(
    runtime: PolicyRuntime, state: SqlState
) -> None:
    version, records = state.read("bob", REPAIR)
    assert records == []
    record_id = _grant(runtime, "bob")  # the ledger's own engine and connection
    assert [r.status for r in state.read("bob", REPAIR)[1]] == [ConsentStatus.GIVEN]
    runtime.consents.withdraw(record_id, actor="customer:bob")
    assert [r.status for r in state.read("bob", REPAIR)[1]] == [ConsentStatus.WITHDRAWN]
    runtime.matrix.change(actor="admin:a", remove=["dealer-vehicle-repair"])
    assert state.read("bob", REPAIR)[0] == version + 1


def test_no_snapshot_outlives_a_read_even_if_the_driver_opens_a_transaction(runtime: PolicyRuntime) -> None:
    """A connection that starts inside a transaction (as a driver setting could make it) would keep reading the
    snapshot of its first read; the read ends it, so the next read still sees the latest commit."""
    engine = create_engine(runtime.ledger.engine.url)

    @event.listens_for(engine, "connect")
    def _begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("BEGIN")

    state = SqlState(engine, taxonomy=runtime.taxonomy, owned=True)
    try:
        assert state.read("cai", REPAIR)[1] == []
        _grant(runtime, "cai")
        assert len(state.read("cai", REPAIR)[1]) == 1
    finally:
        state.close()


def test_close_closes_every_threads_connection_and_later_reads_fail_closed(runtime: PolicyRuntime) -> None:
    state = SqlState(create_engine(runtime.ledger.engine.url), taxonomy=runtime.taxonomy, owned=True)
    connections: list[sqlite3.Connection] = []
    ready, done = threading.Barrier(4), threading.Event()

    def reader() -> None:
        state.read("dan", REPAIR)
        ready.wait()
        done.wait()

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    ready.wait()
    state.read("dan", REPAIR)
    assert state._dedicated is not None
    connections = list(state._dedicated._open.values())
    assert len(connections) == 4
    state.close()  # from this thread, while the readers are still alive
    done.set()
    for thread in threads:
        thread.join()
    for conn in connections:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    with pytest.raises(StateUnavailableError):
        state.read("dan", REPAIR)


def test_the_connection_of_a_thread_that_ended_is_closed_when_another_thread_connects(state: SqlState) -> None:
    _in_thread(lambda: state.read("eve", REPAIR))
    assert state._dedicated is not None
    (gone,) = state._dedicated._open.values()
    state.read("eve", REPAIR)
    assert list(state._dedicated._open) == [threading.current_thread()]
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        gone.execute("SELECT 1")


def test_a_failed_read_fails_closed_and_the_next_read_opens_a_new_connection(
    runtime: PolicyRuntime, state: SqlState
) -> None:
    _grant(runtime, "fay")
    state.read("fay", REPAIR)
    assert state._dedicated is not None
    (broken,) = state._dedicated._open.values()
    broken.close()  # as a failed disk or driver could leave it
    with pytest.raises(StateUnavailableError, match="cannot read consents"):
        state.read("fay", REPAIR)
    assert len(state.read("fay", REPAIR)[1]) == 1
    assert list(state._dedicated._open.values()) != [broken]


def test_in_memory_sqlite_stays_on_the_pool() -> None:
    """Every connection to `sqlite://` is its own empty database, so the read must use the pool's one."""
    engine = create_engine("sqlite://")
    upgrade(engine)
    state = SqlState(engine, taxonomy=load_taxonomy(), owned=True)
    checkouts = _checkouts(engine)
    assert state.read("gus", REPAIR) == (0, [])
    state.read("gus", REPAIR)
    assert checkouts[0] == 2
    state.close()


@pytest.mark.postgres
def test_postgresql_reads_stay_on_the_pool(postgres_url: str) -> None:
    rt = open_policies(postgres_url, pseudonym_key=PSEUDONYM_KEY)
    state = SqlState(create_engine(postgres_url), taxonomy=rt.taxonomy, owned=True)
    try:
        checkouts = _checkouts(state.engine)
        _grant(rt, "hal")
        for _ in range(3):
            assert len(state.read("hal", REPAIR)[1]) == 1
        assert checkouts[0] == 3
    finally:
        state.close()
        rt.close()
