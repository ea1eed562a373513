"""Engines the ledger can trust: SQLite in WAL with full fsync, or PostgreSQL; migrations and the head lock.

Durability: an append is acknowledged after COMMIT returns. SQLite runs `synchronous=FULL` in WAL
mode, so COMMIT returns only after the WAL is fsynced: an acknowledged entry survives a process
crash AND a power cut (NORMAL would survive only the former). The one exception is the sequencer's own
connection: it commits with NORMAL and answers appenders only after it has fdatasynced the WAL itself,
outside the write lock (see `ledger.store.sequencer.WalSyncer`). Every PostgreSQL session sets
`synchronous_commit=on`, whatever the server default, so COMMIT returns after the WAL flush.

Serialisation: every writer first locks the single `ledger_head` row (`SELECT … FOR UPDATE` on
PostgreSQL; `BEGIN IMMEDIATE` takes SQLite's one write lock up front), so writers in other threads,
processes or hosts queue on the database rather than fork the tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from ledger.errors import LedgerError
from ledger.store import schema

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version_ledger"
WRITE = "ledger_write"  # execution option: this connection's transaction will write
SQLITE_BUSY_TIMEOUT_MS = 60_000
MIGRATION_LOCK = 0x4C45444745520001  # PostgreSQL advisory lock id: "LEDGER" + 1
HEAD_SELECT = "SELECT size, checkpoints FROM ledger_head WHERE id = 1"
HEAD_FOR_UPDATE = HEAD_SELECT + " FOR UPDATE"


class NotALedgerError(LedgerError):
    """The database holds no ledger (never initialised, or not a database at all)."""


def safe_url(url: str) -> str:
    """The URL for messages, with any password masked."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, create: bool) -> Engine:
    """An engine with the ledger's durability settings; refuses URLs that cannot hold a durable ledger."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise LedgerError("not a database URL (expected sqlite:///PATH or postgresql+psycopg://HOST/DB)") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise LedgerError("an in-memory SQLite database cannot hold a durable ledger; give a file path")
        path = Path(database)
        if not create and not path.exists():
            raise NotALedgerError(f"no ledger database at {path}")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # payloads are personal data: owner-only from birth
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    elif parsed.get_backend_name() != "postgresql":
        raise LedgerError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ImportError) as exc:
        raise LedgerError(f"cannot use database URL {safe_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    else:
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    """Insist on durable commits even where the server's default was relaxed for speed."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO on")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    """Take transaction control from pysqlite so a writer can say BEGIN IMMEDIATE (SQLAlchemy's recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Deleted rows (erased payloads, released keys) are overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def driver_sql(conn: Connection, sql: str) -> str:
    """Hot-path SQL goes straight to the driver (SQLAlchemy's per-statement overhead exceeded the work);
    it is written with `?` and adapted to the driver's paramstyle."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def run_autocommit(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """Run one statement as its own transaction on the connection's driver and return the first column of its
    one row: COMMIT travels with the statement, so the answer means durable (synchronous_commit=on). The
    connection must be idle between SQLAlchemy transactions; it is left in the driver's usual mode."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        raise LedgerError("the writer's connection is closed")
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        dbapi.autocommit = True
        try:
            cursor = dbapi.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            dbapi.autocommit = False  # if even this fails, the error below makes the caller drop the connection
    except driver_error as exc:  # callers handle SQLAlchemy's errors, as on every other path
        raise DBAPIError.instance(sql, params, exc, driver_error, dialect=conn.dialect) from exc
    if row is None:
        raise LedgerError("the statement returned no row")
    return int(row[0])


def purge_wal(engine: Engine) -> None:
    """Fold the SQLite write-ahead log into the database and truncate it, so the page images from before a
    deletion leave the WAL file too. Best effort: a reader still in the log keeps it (the next purge gets it)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def writer(engine: Engine) -> Connection:
    """A connection whose transactions take the write lock when they begin (BEGIN IMMEDIATE on SQLite)."""
    return engine.connect().execution_options(**{WRITE: True})


def sqlite_wal_path(conn: Connection) -> Path | None:
    """The write-ahead log of an embedded SQLite file (whether or not it exists yet), None for any other database."""
    database = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-wal")


def _writer_lock_path(conn: Connection) -> Path | None:
    """The lock file that queues the ledger writers of an embedded SQLite file, None for any other database."""
    return _lock_path_of(conn.dialect.name, conn.engine.url.database)


@functools.lru_cache(maxsize=64)
def _lock_path_of(dialect: str, database: str | None) -> Path | None:
    if dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-ledger-writer.lock")


def open_writer_lock(conn: Connection) -> int | None:
    """A descriptor on the writers' lock file (see `_writers_queued`) for a writer that commits again and again:
    opening the file per commit cost more than the lock. None for any database without one."""
    path = _writer_lock_path(conn)
    return None if path is None else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextlib.contextmanager
def _writers_queued(conn: Connection, held: int | None = None) -> Iterator[None]:
    """Several processes on one SQLite file would meet at its write lock, and SQLite's busy handler waits for
    that lock in sleeps that grow to 100 ms, so a commit could idle long after the lock was free. An exclusive
    `flock` on a file beside the database queues ledger writers in the kernel instead, which wakes the next
    one as soon as the lock is released. It only orders writers; the database's own lock still guards the data."""
    if held is not None:  # the caller's own descriptor (`open_writer_lock`): lock it, and unlock it after
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
        return
    path = _writer_lock_path(conn)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def raw_sqlite_transaction(conn: Connection, lock_fd: int | None = None) -> Iterator[tuple[Any, int]]:
    """`locked_transaction` straight on an idle SQLite `writer`'s driver connection; yields (it, size).
    `lock_fd`, from `open_writer_lock` on the same database, queues behind other writers without reopening the file.

    The sequencer's hot path: through SQLAlchemy each statement cost more CPU than SQLite's work on it
    (hundreds of microseconds a batch, all of it holding the interpreter lock the event loop wants).
    Driver errors come out as SQLAlchemy's, as on every other path."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        raise LedgerError("the writer's connection is closed")
    driver_error = conn.dialect.loaded_dbapi.Error
    with _writers_queued(conn, lock_fd):
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            try:
                row = dbapi.execute(HEAD_SELECT).fetchone()
                if row is None:
                    raise NotALedgerError("the ledger head row is missing")
                yield dbapi, int(row[0])
                dbapi.execute("COMMIT")
            except BaseException:
                if dbapi.in_transaction:
                    dbapi.execute("ROLLBACK")
                raise
        except driver_error as exc:
            raise DBAPIError.instance("", (), exc, driver_error, dialect=conn.dialect) from exc


@contextlib.contextmanager
def locked_transaction(conn: Connection) -> Iterator[tuple[int, int]]:
    """A transaction on a `writer` connection holding the head-row lock; yields (size, checkpoint count)."""
    postgres = conn.dialect.name == "postgresql"
    with _writers_queued(conn), conn.begin():
        row = conn.exec_driver_sql(HEAD_FOR_UPDATE if postgres else HEAD_SELECT).one_or_none()
        if row is None:
            raise NotALedgerError("the ledger head row is missing")
        yield int(row[0]), int(row[1])


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[tuple[Connection, int, int]]:
    """A transaction holding the ledger's write lock; yields (connection, size, checkpoint count)."""
    with writer(engine) as conn, locked_transaction(conn) as (size, count):
        yield conn, size, count


def migrate(engine: Engine) -> None:
    """Run the ledger's Alembic chain to head, serialised against other processes doing the same."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    with engine.connect() as raw, raw.execution_options(**{WRITE: True}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def check_is_ledger(engine: Engine) -> None:
    """Refuse a database without the ledger's tables and head row, with a message saying so."""
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            needed = {VERSION_TABLE, *schema.metadata.tables}
            if not needed <= tables:
                raise NotALedgerError("the database holds no ledger (run `consentry ledger init`)")
            head = conn.execute(select(schema.head.c.size).where(schema.head.c.id == schema.HEAD_ID)).one_or_none()
            if head is None:
                raise NotALedgerError("the ledger head row is missing")
    except DBAPIError as exc:
        raise NotALedgerError(f"not a ledger database: {exc.orig}") from exc


def open_engine(url: str, *, create: bool) -> Engine:
    engine = make_engine(url, create=create)
    try:
        if create:
            migrate(engine)
        check_is_ledger(engine)
    except LedgerError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise NotALedgerError(f"cannot open a ledger at {safe_url(url)}: {exc}") from exc
    return engine


@functools.lru_cache(maxsize=512)
def nodes_sql(count: int, paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    match = " OR ".join([f"(level = {mark} AND idx = {mark})"] * count)
    return f"SELECT level, idx, hash FROM {schema.nodes.name} WHERE {match}"  # noqa: S608 - no values in the text


def found_nodes(rows: Iterable[Sequence[Any]], keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    found = {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}
    for key in keys:
        if key not in found:
            raise LedgerError(f"stored tree is damaged: node (level {key[0]}, index {key[1]}) is missing")
    return found


def flat_keys(keys: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(v for key in keys for v in key)


def read_nodes(conn: Connection, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Fetch tree nodes by (level, index) in one query; LedgerError names the first missing one.

    Spelled as an OR of primary-key equalities: SQLite plans `(level, idx) IN (…)` as a table scan
    but this as one primary-key search per node (PostgreSQL: a bitmap OR of index scans). The SQL is
    cached per key count and sent straight to the driver: building expressions cost more than the query.
    """
    if not keys:
        return {}
    sql = nodes_sql(len(keys), conn.dialect.paramstyle)
    return found_nodes(conn.exec_driver_sql(sql, flat_keys(keys)).all(), keys)


def read_nodes_now(engine: Engine, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """`read_nodes` outside any transaction, on a pooled DB-API connection: the proof hot path.

    One SELECT is its own snapshot and nodes are never rewritten, so a proof needs no BEGIN/ROLLBACK
    around it; skipping SQLAlchemy's Connection (its begin hook, BEGIN, ROLLBACK, event dispatch) and
    reusing the driver's cached prepared statement halves the time of a proof.
    """
    if not keys:
        return {}
    sql, params = nodes_sql(len(keys), engine.dialect.paramstyle), flat_keys(keys)
    driver_error = engine.dialect.loaded_dbapi.Error
    dbapi = engine.raw_connection()
    try:
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    except driver_error as exc:  # callers handle SQLAlchemy's errors, as on every other path
        raise DBAPIError.instance(sql, params, exc, driver_error, dialect=engine.dialect) from exc
    finally:
        dbapi.close()  # back to the pool, which rolls back whatever the driver opened
    return found_nodes(rows, keys)
