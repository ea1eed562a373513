"""SQL persistence: consent records and matrix versions, each change committed atomically with its ledger entry.

Every write goes through `Ledger.append(event, effects=...)`: the row changes run inside the append's transaction,
so either both the ledger entry and the rows exist or neither does, and the caller is acknowledged only once both
are durable. Subjects reach the ledger only as keyed pseudonyms; the raw subject id stays in these tables.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, RowMapping, and_, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

from ledger import Event, pseudonym
from ledger.store import Ledger
from policies import schema
from policies.consent import (
    ACTIVE,
    ALL_CATEGORIES,
    ANY_RECIPIENT,
    Cell,
    CollectionMethod,
    ConsentEvent,
    ConsentRecord,
    ConsentStatus,
    GivenBy,
    Notice,
    RecordKind,
    apply_event,
    in_force_until,
    utcnow,
)
from policies.errors import (
    ConsentError,
    PolicyError,
    Problem,
    StateUnavailableError,
    UnchangedMatrixError,
    ValidationError,
)
from policies.flows import Flow, allowed_flows
from policies.matrix import Effect, Matrix, MatrixRule, PrivacyBudget, validate_rules
from policies.questions import Questions, diff_questions
from policies.scope import flow_changes, shown_cells
from policies.taxonomy import Taxonomy
from policies.timeutil import from_micros, to_micros

E = TypeVar("E", bound=StrEnum)
# Extra work to commit atomically with a consent event: called inside the ledger append's transaction with its
# connection and the record's new state (which carries the event's ledger index); raising rolls everything back.
ConsentEffects = Callable[[Connection, ConsentRecord], None]
_READ = (
    select(schema.head.c.matrix_version, *schema.consent_records.c)
    .select_from(
        schema.head.outerjoin(
            schema.consent_scope,
            and_(
                schema.consent_scope.c.subject_id == bindparam("subject"),
                schema.consent_scope.c.purpose == bindparam("purpose"),
            ),
        ).outerjoin(schema.consent_records, schema.consent_records.c.record_id == schema.consent_scope.c.record_id)
    )
    .where(schema.head.c.id == schema.HEAD_ID)
)


# The same records as `_READ`, for a page of subjects at once; ordered like `_READ` (scope key order) per subject.
_READ_MANY = (
    select(*schema.consent_records.c)
    .select_from(
        schema.consent_scope.join(
            schema.consent_records, schema.consent_records.c.record_id == schema.consent_scope.c.record_id
        )
    )
    .where(
        schema.consent_scope.c.subject_id.in_(bindparam("subjects", expanding=True)),
        schema.consent_scope.c.purpose == bindparam("purpose"),
    )
    .order_by(schema.consent_scope.c.subject_id, schema.consent_scope.c.record_id)
)


class PolicyConflictError(PolicyError):
    """Another change was committed since the one being applied was prepared; nothing was applied."""


@functools.lru_cache(maxsize=4096)
def _names(text: str) -> tuple[str, ...]:
    """A JSON list of names (purposes, categories, recipients): few distinct values across millions of records."""
    return tuple(json.loads(text))


@functools.lru_cache(maxsize=4096)
def _revisions(text: str) -> Mapping[str, int]:
    return MappingProxyType(json.loads(text))


def _record_from_row(row: RowMapping | Mapping[str, Any], taxonomy: Taxonomy | None = None) -> ConsentRecord:
    """The stored record; with a `taxonomy`, as a decision reads it (`consent.in_force_until`)."""
    notice = json.loads(row["notice"]) if row["notice"] else None
    kind = RecordKind(row["kind"])
    status = ConsentStatus(row["status"])
    purposes = _names(row["purposes"])
    event_time = from_micros(row["event_time"])
    valid_until = from_micros(row["valid_until"]) if row["valid_until"] is not None else None
    if taxonomy is not None:
        valid_until = in_force_until(taxonomy, kind, status, purposes, event_time, valid_until)
    return ConsentRecord(
        record_id=row["record_id"],
        subject_id=row["subject_id"],
        controller=row["controller"],
        kind=kind,
        purposes=purposes,
        categories=_names(row["categories"]),
        recipients=_names(row["recipients"]),
        jurisdiction=row["jurisdiction"],
        legal_basis=row["legal_basis"],
        notice=Notice(**notice) if notice else None,
        method=CollectionMethod(row["method"]),
        given_by=GivenBy(row["given_by"]),
        separate=bool(row["separate"]),
        cross_border=bool(row["cross_border"]),
        purpose_revisions=_revisions(row["purpose_revisions"]),
        status=status,
        valid_from=from_micros(row["valid_from"]),
        valid_until=valid_until,
        event_time=event_time,
        seq=row["seq"],
        ledger_index=row["ledger_index"],
        cells=_cells(row["cells"]) if row["cells"] is not None else None,
    )


@functools.lru_cache(maxsize=1024)
def _cells(text: str) -> tuple[Cell, ...]:
    """A record's cells: every customer who accepted one agreement shares the same text, parsed once."""
    return tuple((c[0], c[1], c[2], c[3], c[4]) for c in json.loads(text))


def _head_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(schema.head.c.matrix_version).where(schema.head.c.id == schema.HEAD_ID)).scalar_one()
        )


def load_rules(engine: Engine, version: int | None = None) -> list[MatrixRule]:
    """The rules of `version` (default: the current head), in their stored order."""
    t = schema.matrix_rules
    with engine.connect() as conn:
        if version is None:
            version = int(
                conn.execute(
                    select(schema.head.c.matrix_version).where(schema.head.c.id == schema.HEAD_ID)
                ).scalar_one()
            )
        rows = conn.execute(
            select(
                t.c.rule_id,
                t.c.effect,
                t.c.role,
                t.c.customer_type,
                t.c.category,
                t.c.purpose,
                t.c.mode,
                t.c.budget_epsilon,
                t.c.budget_period,
            )
            .where(t.c.version == version)
            .order_by(t.c.position)
        ).all()
    return [
        MatrixRule(
            r[0],
            Effect(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            budget=PrivacyBudget(float(r[7]), r[8]) if r[7] is not None and r[8] is not None else None,
        )
        for r in rows
    ]


def load_questions(engine: Engine, version: int | None = None) -> tuple[int, Questions]:
    """The `questions:` section of `version` (default: the current head, in the same round trip) and its version;
    a version stored before questions existed declares none."""
    head, versions = schema.head, schema.matrix_versions
    if version == 0:
        return 0, Questions()  # before the first matrix
    if version is None:
        query = (
            select(head.c.matrix_version, versions.c.questions)
            .select_from(head.outerjoin(versions, versions.c.version == head.c.matrix_version))
            .where(head.c.id == schema.HEAD_ID)
        )
    else:
        query = select(versions.c.version, versions.c.questions).where(versions.c.version == version)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise StateUnavailableError(f"matrix version {version if version is not None else 'head'} is not stored")
    return int(row[0]), Questions.from_dict(json.loads(row[1])) if row[1] is not None else Questions()


def _record_to_row(record: ConsentRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "subject_id": record.subject_id,
        "controller": record.controller,
        "kind": record.kind.value,
        "purposes": json.dumps(list(record.purposes)),
        "categories": json.dumps(list(record.categories)),
        "recipients": json.dumps(list(record.recipients)),
        "jurisdiction": record.jurisdiction,
        "legal_basis": record.legal_basis,
        "notice": json.dumps(record.notice.__dict__) if record.notice else None,
        "method": record.method.value,
        "given_by": record.given_by.value,
        "separate": record.separate,
        "cross_border": record.cross_border,
        "purpose_revisions": json.dumps(dict(record.purpose_revisions), sort_keys=True),
        "status": record.status.value,
        "valid_from": to_micros(record.valid_from),
        "valid_until": to_micros(record.valid_until) if record.valid_until is not None else None,
        "event_time": to_micros(record.event_time),
        "seq": record.seq,
        "ledger_index": record.ledger_index,
        "cells": json.dumps(record.cells, separators=(",", ":")) if record.cells is not None else None,
    }


_RECORD_FIELDS = tuple(c.name for c in schema.consent_records.c)
_SEQ = _RECORD_FIELDS.index("seq")


class _ThreadConnections:
    """One SQLite connection per thread for the hot read, kept out of the pool (its checkout and reset-on-return
    cost as much as the query).

    Each is checked out of the engine's pool once and detached, so it was opened exactly as the pool opens its
    own (same connect arguments, same `connect` event hooks, e.g. pragmas). Freshness does not depend on the pool's
    reset: a SELECT outside a transaction is its own snapshot of the latest commit, and `read` ends any
    transaction a driver setting might open, so no reader keeps an old snapshot between decisions.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: dict[threading.Thread, Any] = {}
        self._closed = False

    def get(self) -> Any:
        conn = getattr(self._local, "conn", None)
        return conn if conn is not None else self._connect()

    def _connect(self) -> Any:
        proxied = self._engine.raw_connection()
        proxied.detach()
        conn: Any = proxied.dbapi_connection
        with self._lock:
            if self._closed:
                conn.close()
                raise StateUnavailableError("the consent state source is closed")
            # A thread that ended left its connection here: close it now (pooled threads come and go).
            for gone in [t for t in self._open if not t.is_alive()]:
                self._open.pop(gone).close()
            self._open[threading.current_thread()] = conn
        self._local.conn = conn
        return conn

    def discard(self) -> None:
        """Close this thread's connection after a failure; the next read opens a new one."""
        conn = self._local.__dict__.pop("conn", None)
        if conn is None:
            return
        with self._lock:
            self._open.pop(threading.current_thread(), None)
        with contextlib.suppress(Exception):  # already failing: the read reports the original error
            conn.close()

    def close(self) -> None:
        """Close every thread's connection, from this thread: SQLAlchemy opens file-based SQLite connections with
        check_same_thread=False (its QueuePool hands them between threads too)."""
        with self._lock:
            self._closed = True
            conns, self._open = list(self._open.values()), {}
        for conn in conns:
            conn.close()


def _dedicated_connections(engine: Engine) -> _ThreadConnections | None:
    """File-based SQLite on the standard driver and pools. An in-memory database (one shared or per-thread
    connection, each its own database) and server databases (a round trip dwarfs the checkout) stay on the pool."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return None
    if not isinstance(engine.pool, QueuePool | NullPool):
        return None
    return _ThreadConnections(engine)


class SqlState:
    """The decision engine's reads: one round trip returns the matrix version and the subject's records.

    Parsed records are memoised by (record id, sequence number): a record's row for a given sequence number never
    changes, and the row is still read on every decision, so the memo can never serve a withdrawn consent.

    With the `taxonomy`, each consent is read as `consent.in_force_until` has it: valid only until its purposes'
    retention period ends, whether or not the retention sweep has recorded the lapse yet. That end is fixed by
    the record's version and the taxonomy, so it is worked out once, when the record is parsed.
    """

    def __init__(self, engine: Engine, *, taxonomy: Taxonomy, owned: bool = False, memo_size: int = 65_536) -> None:
        self.engine = engine
        self._taxonomy = taxonomy
        self._owned = owned
        self._memo: dict[tuple[str, int], ConsentRecord] = {}
        self._memo_size = memo_size
        # The hot query runs on a pooled DB-API connection with SQL compiled once for this dialect: the ORM-free
        # path halves the per-decision overhead, and the statement is the same one SQLAlchemy would send.
        compiled = _READ.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._bound = dict(compiled.construct_params({"subject": "", "purpose": ""}))
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._dedicated = _dedicated_connections(engine)

    def close(self) -> None:
        if self._dedicated is not None:
            self._dedicated.close()
        if self._owned:
            self.engine.dispose()

    def _fetch(self, subject_id: str, purpose: str) -> list[Any]:
        params = dict(self._bound, subject=subject_id, purpose=purpose)
        bound = tuple(params[k] for k in self._order) if self._order is not None else params
        if self._dedicated is not None:
            return self._fetch_dedicated(self._dedicated, bound)
        conn = self.engine.raw_connection()
        try:
            return self._query(conn, bound)
        finally:
            conn.close()  # back to the pool, which ends any transaction the driver opened

    def _fetch_dedicated(self, dedicated: _ThreadConnections, bound: Any) -> list[Any]:
        conn = dedicated.get()
        try:
            try:
                return self._query(conn, bound)
            finally:
                if conn.in_transaction:  # never keep a snapshot open between reads
                    conn.rollback()
        except self._driver_error:
            dedicated.discard()
            raise

    def _query(self, conn: Any, bound: Any) -> list[Any]:
        cursor = conn.cursor()
        try:
            cursor.execute(self._sql, bound)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _parse(self, row: Mapping[str, Any]) -> ConsentRecord:
        return _record_from_row(row, self._taxonomy)

    def read(self, subject_id: str, purpose: str) -> tuple[int, list[ConsentRecord]]:
        try:
            rows = self._fetch(subject_id, purpose)
        except (SQLAlchemyError, self._driver_error) as exc:
            raise StateUnavailableError(f"cannot read consents and matrix version: {exc.__class__.__name__}") from exc
        if not rows:
            raise StateUnavailableError("the policies head row is missing (run the policies migrations)")
        records = []
        memo = self._memo
        for row in rows:
            if row[1] is None:
                continue
            key = (row[1], row[1 + _SEQ])
            record = memo.get(key)
            if record is None:
                record = self._parse(dict(zip(_RECORD_FIELDS, row[1:], strict=True)))
                if len(memo) >= self._memo_size:
                    memo.clear()
                memo[key] = record
            records.append(record)
        return int(rows[0][0]), records

    def read_many(self, subject_ids: Sequence[str], purpose: str) -> tuple[int, dict[str, list[ConsentRecord]]]:
        found: dict[str, list[ConsentRecord]] = {}
        try:
            with self.engine.connect() as conn:
                version = conn.execute(
                    select(schema.head.c.matrix_version).where(schema.head.c.id == schema.HEAD_ID)
                ).scalar()
                rows = (
                    conn.execute(_READ_MANY, {"subjects": list(subject_ids), "purpose": purpose}).all()
                    if subject_ids
                    else []
                )
        except SQLAlchemyError as exc:
            raise StateUnavailableError(f"cannot read consents and matrix version: {exc.__class__.__name__}") from exc
        if version is None:
            raise StateUnavailableError("the policies head row is missing (run the policies migrations)")
        # no memo here: a page of many subjects reads each record once, and keeping them would only grow memory
        for row in rows:
            record = self._parse(dict(zip(_RECORD_FIELDS, row, strict=True)))
            found.setdefault(record.subject_id, []).append(record)
        return int(version), found

    def matrix_rules(self, version: int) -> list[MatrixRule]:
        try:
            return load_rules(self.engine, version)
        except SQLAlchemyError as exc:
            raise StateUnavailableError(f"cannot read matrix version {version}: {exc.__class__.__name__}") from exc


def _json_changes(changes: Mapping[str, Any]) -> str:
    def encode(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Notice):
            return value.__dict__
        if isinstance(value, tuple):
            return list(value)
        return value

    return json.dumps({k: encode(v) for k, v in changes.items()}, sort_keys=True, ensure_ascii=False)


class ConsentStore:
    """Records consent events (administrative use, imports, the portal) and answers history queries."""

    def __init__(self, ledger: Ledger, taxonomy: Taxonomy, *, pseudonym_key: bytes) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self.taxonomy = taxonomy
        self._key = pseudonym_key
        self._flows: tuple[int, list[Flow]] | None = None

    def pseudonym(self, subject_id: str) -> str:
        return pseudonym(self._key, subject_id)

    def _scoped(self, changes: Mapping[str, Any], cells: Sequence[Cell] | None) -> tuple[Cell, ...]:
        if cells is None:
            return self._shown(changes["purposes"], changes["categories"], changes["recipients"])
        probe = ConsentRecord(record_id="", status=ConsentStatus.GIVEN, event_time=changes["valid_from"], **changes)
        roles = {r.id: r.role for r in self.taxonomy.recipients.values()}
        outside = [
            c
            for c in cells
            if c[2] not in probe.purposes
            or c[3] not in roles
            or c[1] not in self.taxonomy.categories
            or not probe.covers_category(self.taxonomy.lineage(c[1]))
            or not probe.covers_recipient(c[3], roles[c[3]])
        ]
        if outside:
            raise ConsentError("cells", f"outside the record's scope: {list(outside[0])}")
        return tuple(sorted({(c[0], c[1], c[2], c[3], c[4]) for c in cells}))

    def _shown(self, purposes: Sequence[str], categories: Sequence[str], recipients: Sequence[str]) -> tuple[Cell, ...]:
        """The cells the current agreement lists for this scope: what a consent given now covers."""
        version = _head_version(self.engine)
        cached = self._flows
        if cached is None or cached[0] != version:
            cached = self._flows = (version, allowed_flows(self.taxonomy, load_rules(self.engine, version)))
        return shown_cells(self.taxonomy, cached[1], purposes=purposes, categories=categories, recipients=recipients)

    # -- writing ---------------------------------------------------------------------------------

    def grant(
        self,
        *,
        subject_id: str,
        purposes: Sequence[str],
        categories: Sequence[str],
        jurisdiction: str,
        actor: str,
        recipients: Sequence[str] = (ANY_RECIPIENT,),
        kind: RecordKind | str = RecordKind.CONSENT,
        method: CollectionMethod | str = CollectionMethod.PORTAL,
        given_by: GivenBy | str = GivenBy.SUBJECT,
        separate: bool = False,
        cross_border: bool = False,
        notice: Notice | None = None,
        valid_until: datetime | None = None,
        refused: bool = False,
        at: datetime | None = None,
        effects: ConsentEffects | None = None,
        cells: Sequence[Cell] | None = None,
    ) -> ConsentRecord:
        """Create a record (status `given`, or `refused`); every field is validated before anything is written.

        A consent covers the cells the current agreement lists for its scope, or exactly `cells` when the record
        continues an earlier one (the rest of a consent split by an exact withdrawal keeps the agreement it was
        given under): never a cell its named scope does not cover."""
        when = _when(at)
        record_kind = _enum(RecordKind, kind, "kind")
        changes: dict[str, Any] = {
            "subject_id": _nonempty(subject_id, "subject_id"),
            "controller": self.taxonomy.controller,
            "kind": record_kind,
            "purposes": self._purposes(purposes),
            "categories": self._categories(categories, record_kind),
            "recipients": self._recipients(recipients),
            "jurisdiction": self._jurisdiction(jurisdiction),
            "legal_basis": "consent" if record_kind is RecordKind.CONSENT else record_kind.value,
            "notice": notice,
            "method": _enum(CollectionMethod, method, "method"),
            "given_by": _enum(GivenBy, given_by, "given_by"),
            "separate": separate,
            "cross_border": cross_border,
            "purpose_revisions": {p: self.taxonomy.purposes[p].revision for p in purposes},
            "valid_from": when,
            "valid_until": _future(valid_until, when),
        }
        if record_kind is RecordKind.CONSENT:
            changes["cells"] = self._scoped(changes, cells)
        status = ConsentStatus.REFUSED if refused else ConsentStatus.GIVEN
        record_id = str(uuid.uuid4())
        return self._append(record_id, subject_id, record_kind, status, actor, changes, when, new=True, effects=effects)

    def give_again(
        self,
        record_id: str,
        *,
        actor: str,
        notice: Notice | None = None,
        valid_until: datetime | None = None,
        given_by: GivenBy | str | None = None,
        at: datetime | None = None,
        effects: ConsentEffects | None = None,
    ) -> ConsentRecord:
        """A withdrawn, refused or expired record given again, against the taxonomy's current purpose revisions."""
        when = _when(at)
        record = self.get(record_id)
        changes: dict[str, Any] = {
            "purpose_revisions": {p: self.taxonomy.purposes[p].revision for p in record.purposes},
            "valid_until": _future(valid_until, when),
        }
        if notice is not None:
            changes["notice"] = notice
        if record.kind is RecordKind.CONSENT:
            changes["cells"] = self._shown(record.purposes, record.categories, record.recipients)
        if given_by is not None:
            changes["given_by"] = _enum(GivenBy, given_by, "given_by")
        return self._append(
            record_id, record.subject_id, record.kind, ConsentStatus.GIVEN, actor, changes, when, effects=effects
        )

    def renew(
        self,
        record_id: str,
        *,
        actor: str,
        valid_until: datetime | None = None,
        at: datetime | None = None,
        effects: ConsentEffects | None = None,
    ) -> ConsentRecord:
        when = _when(at)
        record = self.get(record_id)
        changes = {"valid_until": _future(valid_until, when)}
        return self._append(
            record_id, record.subject_id, record.kind, ConsentStatus.RENEWED, actor, changes, when, effects=effects
        )

    def withdraw(
        self, record_id: str, *, actor: str, at: datetime | None = None, effects: ConsentEffects | None = None
    ) -> ConsentRecord:
        """GDPR Art. 7(3): as easy as giving — one call, effective for the very next decision."""
        record = self.get(record_id)
        return self._append(
            record_id, record.subject_id, record.kind, ConsentStatus.WITHDRAWN, actor, {}, _when(at), effects=effects
        )

    def invalidate(self, record_id: str, *, actor: str, at: datetime | None = None) -> ConsentRecord:
        record = self.get(record_id)
        return self._append(record_id, record.subject_id, record.kind, ConsentStatus.INVALIDATED, actor, {}, _when(at))

    def expire(
        self,
        record_id: str,
        *,
        actor: str,
        at: datetime | None = None,
        valid_until: datetime | None = None,
        if_seq: int | None = None,
        effects: ConsentEffects | None = None,
    ) -> ConsentRecord:
        """Record that a record ran out; refused while it is still within its validity.

        `valid_until` ends it earlier than it was given for (retention: its purpose's period passed without a
        renewal) and is recorded with the event. `if_seq` refuses, inside the event's own transaction, a record
        that changed since it was read (a renewal in between must not be undone)."""
        when = _when(at)
        record = self.get(record_id)
        end = record.valid_until
        changes: dict[str, Any] = {}
        if valid_until is not None:
            if valid_until.tzinfo is None:
                raise ConsentError("valid_until", "must be timezone-aware (UTC)")
            if end is None or valid_until < end:
                end = valid_until
                changes["valid_until"] = valid_until
        if end is None or when < end:
            raise ConsentError("valid_until", f"record {record_id} has not expired")
        return self._append(
            record_id,
            record.subject_id,
            record.kind,
            ConsentStatus.EXPIRED,
            actor,
            changes,
            when,
            effects=effects,
            if_seq=if_seq,
        )

    def _append(
        self,
        record_id: str,
        subject_id: str,
        kind: RecordKind,
        status: ConsentStatus,
        actor: str,
        changes: Mapping[str, Any],
        when: datetime,
        *,
        new: bool = False,
        effects: ConsentEffects | None = None,
        if_seq: int | None = None,
    ) -> ConsentRecord:
        _nonempty(actor, "actor")
        result: list[ConsentRecord] = []

        def write(conn: Connection, index: int) -> None:
            # Re-read inside the append's transaction (which holds the ledger's write lock), so two concurrent
            # events on one record cannot both apply to the same prior state.
            previous = None if new else self._load(conn, record_id)
            if if_seq is not None and (previous is None or previous.seq != if_seq):
                raise ConsentError("seq", f"record {record_id} changed since it was read")
            seq = 1 if previous is None else previous.seq + 1
            event = ConsentEvent(record_id, seq, status, when, actor, dict(changes), index)
            state = apply_event(previous, event)
            row = _record_to_row(state)
            if previous is None:
                conn.execute(insert(schema.consent_records).values(row))
                conn.execute(
                    insert(schema.consent_scope),
                    [{"subject_id": subject_id, "purpose": p, "record_id": record_id} for p in state.purposes],
                )
            else:
                conn.execute(
                    update(schema.consent_records).where(schema.consent_records.c.record_id == record_id).values(row)
                )
            conn.execute(
                insert(schema.consent_events).values(
                    record_id=record_id,
                    seq=seq,
                    status=status.value,
                    time=to_micros(when),
                    actor=actor,
                    changes=_json_changes(changes),
                    ledger_index=index,
                )
            )
            if effects is not None:
                effects(conn, state)
            result.append(state)

        payload = {"record_id": record_id, "status": status.value, **json.loads(_json_changes(changes))}
        payload.pop("subject_id", None)
        event = Event(
            type=f"{kind.value}.{status.value}",
            actor=actor,
            subject=self.pseudonym(subject_id),
            payload=payload,
            time=when,
        )
        self.ledger.append(event, effects=write)
        return result[0]

    # -- reading ---------------------------------------------------------------------------------

    @staticmethod
    def _load(conn: Connection, record_id: str) -> ConsentRecord:
        row = (
            conn.execute(select(schema.consent_records).where(schema.consent_records.c.record_id == record_id))
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise ConsentError("record_id", f"no consent record {record_id!r}")
        return _record_from_row(row)

    def get(self, record_id: str) -> ConsentRecord:
        with self.engine.connect() as conn:
            return self._load(conn, record_id)

    def records(self, subject_id: str) -> list[ConsentRecord]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(schema.consent_records)
                    .where(schema.consent_records.c.subject_id == subject_id)
                    .order_by(schema.consent_records.c.event_time)
                )
                .mappings()
                .all()
            )
        return [_record_from_row(r) for r in rows]

    def live(self, kind: RecordKind = RecordKind.CONSENT) -> list[ConsentRecord]:
        """Every given or renewed record of `kind`, of every subject: what retention measures against its periods."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(schema.consent_records).where(
                        schema.consent_records.c.kind == kind.value,
                        schema.consent_records.c.status.in_([s.value for s in ACTIVE]),
                    )
                )
                .mappings()
                .all()
            )
        return [_record_from_row(r) for r in rows]

    def history(self, subject_id: str) -> list[ConsentEvent]:
        """Every event of every record of the subject, in time order (ties: record, then sequence)."""
        e = schema.consent_events
        r = schema.consent_records
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e)
                .join(r, r.c.record_id == e.c.record_id)
                .where(r.c.subject_id == subject_id)
                .order_by(e.c.time, e.c.ledger_index)
            ).mappings()
            return [
                ConsentEvent(
                    record_id=row["record_id"],
                    seq=row["seq"],
                    status=ConsentStatus(row["status"]),
                    time=from_micros(row["time"]),
                    actor=row["actor"],
                    changes=json.loads(row["changes"]),
                    ledger_index=row["ledger_index"],
                )
                for row in rows
            ]

    # -- validation ------------------------------------------------------------------------------

    def _purposes(self, purposes: Sequence[str]) -> tuple[str, ...]:
        if not purposes:
            raise ConsentError("purposes", "at least one purpose is required")
        for p in purposes:
            if p not in self.taxonomy.purposes:
                raise ConsentError("purposes", f"unknown purpose {p!r}")
        return tuple(dict.fromkeys(purposes))

    def _categories(self, categories: Sequence[str], kind: RecordKind) -> tuple[str, ...]:
        if not categories:
            raise ConsentError("categories", "at least one category is required")
        for c in categories:
            if c == ALL_CATEGORIES and kind is not RecordKind.CONSENT:
                continue
            if c not in self.taxonomy.categories:
                raise ConsentError("categories", f"unknown category {c!r}")
        return tuple(dict.fromkeys(categories))

    def _recipients(self, recipients: Sequence[str]) -> tuple[str, ...]:
        if not recipients:
            raise ConsentError("recipients", "at least one recipient (org:ID, role:ROLE or any) is required")
        for r in recipients:
            if r == ANY_RECIPIENT:
                continue
            kind, _, name = r.partition(":")
            if kind == "org" and name in self.taxonomy.recipients:
                continue
            if kind == "role" and name in self.taxonomy.roles:
                continue
            raise ConsentError("recipients", f"unknown recipient {r!r} (use org:ID, role:ROLE or any)")
        return tuple(dict.fromkeys(recipients))

    def _jurisdiction(self, jurisdiction: str) -> str:
        if jurisdiction not in self.taxonomy.jurisdictions:
            raise ConsentError("jurisdiction", f"unknown jurisdiction {jurisdiction!r}")
        return jurisdiction


@dataclass(frozen=True)
class PolicyChange:
    version: int
    ledger_index: int
    diff: Mapping[str, Any]
    # `flow_changes`: what the change does to consents (widened flows await a fresh consent; narrowed ones stop)
    consents: Mapping[str, Any] = field(default_factory=dict)


def diff_rules(before: Sequence[MatrixRule], after: Sequence[MatrixRule]) -> dict[str, Any]:
    """Who changed what: rules added, removed and changed, by rule id."""
    old = {r.id: r.as_dict() for r in before}
    new = {r.id: r.as_dict() for r in after}
    return {
        "added": [new[i] for i in new if i not in old],
        "removed": [old[i] for i in old if i not in new],
        "changed": [{"id": i, "before": old[i], "after": new[i]} for i in new if i in old and old[i] != new[i]],
    }


class PolicyStore:
    """Matrix versions in the database: each change validated whole, diffed, ledgered and applied atomically."""

    def __init__(self, ledger: Ledger, taxonomy: Taxonomy) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self.taxonomy = taxonomy

    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(schema.head.c.matrix_version).where(schema.head.c.id == schema.HEAD_ID)
                ).scalar_one()
            )

    def rules(self, version: int | None = None) -> list[MatrixRule]:
        return load_rules(self.engine, version)

    def questions(self, version: int | None = None) -> Questions:
        return load_questions(self.engine, version)[1]

    def questions_in_force(self) -> tuple[int, Questions]:
        """The head version and its questions, read together (one round trip, one consistent answer)."""
        return load_questions(self.engine)

    def apply(self, matrix: Matrix | Sequence[MatrixRule], *, actor: str, note: str | None = None) -> PolicyChange:
        """Replace the matrix with `matrix` (validated against the taxonomy); raises if it changes nothing.
        A bare rule sequence keeps the questions in force; a `Matrix` replaces them with its own."""
        rules = matrix.rules if isinstance(matrix, Matrix) else tuple(matrix)
        validate_rules(self.taxonomy, [r.as_dict() for r in rules], "<change>")
        base = self.version()
        questions = matrix.questions if isinstance(matrix, Matrix) else self.questions(base)
        return self._commit(base, rules, questions, actor=actor, note=note)

    def change(
        self,
        *,
        actor: str,
        add: Sequence[Mapping[str, Any]] = (),
        remove: Sequence[str] = (),
        note: str | None = None,
    ) -> PolicyChange:
        """Add and/or remove rules by id; the resulting matrix is validated whole, so a bad change applies nothing."""
        base = self.version()
        current = self.rules(base)
        ids = {r.id for r in current}
        missing = [i for i in remove if i not in ids]
        if missing:
            raise ValidationError([Problem("<change>", 0, f"cannot remove unknown rule {i!r}") for i in missing])
        kept = [r.as_dict() for r in current if r.id not in set(remove)]
        rules = validate_rules(self.taxonomy, [*kept, *add], "<change>")
        return self._commit(base, rules, self.questions(base), actor=actor, note=note)

    def _commit(
        self, base: int, rules: Sequence[MatrixRule], questions: Questions, *, actor: str, note: str | None
    ) -> PolicyChange:
        _nonempty(actor, "actor")
        before = self.rules(base)
        diff = diff_rules(before, rules)
        asked = diff_questions(self.questions(base), questions)
        if asked:
            diff["questions"] = asked
        if not any(diff.values()):
            raise UnchangedMatrixError(base)
        consents = flow_changes(self.taxonomy, before, rules)
        version = base + 1
        now = utcnow()

        def effects(conn: Connection, index: int) -> None:
            head = schema.head
            moved = conn.execute(
                update(head)
                .where(head.c.id == schema.HEAD_ID, head.c.matrix_version == base)
                .values(matrix_version=version)
            )
            if moved.rowcount != 1:
                raise PolicyConflictError(f"the matrix changed since version {base}; prepare the change again")
            conn.execute(
                insert(schema.matrix_versions).values(
                    version=version,
                    created_at=to_micros(now),
                    actor=actor,
                    note=note,
                    taxonomy_digest=self.taxonomy.digest,
                    diff=json.dumps(diff, sort_keys=True),
                    ledger_index=index,
                    questions=json.dumps(questions.as_dict(), sort_keys=True),
                )
            )
            conn.execute(
                insert(schema.matrix_rules),
                [
                    {
                        "version": version,
                        "position": i,
                        "rule_id": r.id,
                        "effect": r.effect.value,
                        "role": r.role,
                        "customer_type": r.customer_type,
                        "category": r.category,
                        "purpose": r.purpose,
                        "mode": r.mode,
                        "budget_epsilon": r.budget.epsilon if r.budget is not None else None,
                        "budget_period": r.budget.period if r.budget is not None else None,
                    }
                    for i, r in enumerate(rules)
                ],
            )

        payload = {
            "version": version,
            "base": base,
            "note": note,
            "taxonomy_digest": self.taxonomy.digest,
            "diff": diff,
            # Flows (role, customer type, category, purpose, mode) consents must be given again for, and flows
            # that stop at once (issue 14: no silent widening).
            "consents": consents,
        }
        index = self.ledger.append(Event(type="policy.change", actor=actor, payload=payload, time=now), effects=effects)
        return PolicyChange(version, index, diff, consents)

    def history(self) -> list[dict[str, Any]]:
        t = schema.matrix_versions
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.version)).mappings().all()
        return [
            {
                "version": r["version"],
                "created_at": from_micros(r["created_at"]).isoformat(),
                "actor": r["actor"],
                "note": r["note"],
                "ledger_index": r["ledger_index"],
                "diff": json.loads(r["diff"]),
            }
            for r in rows
        ]


def _when(at: datetime | None) -> datetime:
    if at is None:
        return utcnow()
    if at.tzinfo is None:
        raise ConsentError("at", "must be timezone-aware (UTC)")
    return at


def _future(valid_until: datetime | None, when: datetime) -> datetime | None:
    if valid_until is None:
        return None
    if valid_until.tzinfo is None:
        raise ConsentError("valid_until", "must be timezone-aware (UTC)")
    if valid_until <= when:
        raise ConsentError("valid_until", f"expiry {valid_until.isoformat()} is not after {when.isoformat()}")
    return valid_until


def _nonempty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConsentError(field, "must be a non-empty string")
    return value


def _enum(kind: type[E], value: object, field: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        raise ConsentError(field, f"unknown value {value!r}") from None
