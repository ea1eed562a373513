"""A search index over ledger entries, for the auditor API's event search.

Derived from the ledger through its public API only (leaf envelope + payload), so it can be rebuilt at any
time and covers events appended by any package. It catches up lazily before each search. Recipient and
purpose come from the payload's `recipient` and `purpose` members; once a subject is erased (the ledger's
erasure entry), those columns are cleared for the subject's earlier entries as the payloads were.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.tables import ledger_event_index
from ledger import parse_envelope
from ledger.store import Ledger

# The ledger records a subject's erasure as an entry of this type (GDPR Art. 17).
ERASURE_EVENT_TYPE = "ledger.erasure"
BATCH = 500


def _text_member(payload: Mapping[str, Any] | None, name: str) -> str | None:
    value = payload.get(name) if payload else None
    return value[:200] if isinstance(value, str) else None


@dataclass(frozen=True)
class IndexedEvent:
    index: int
    type: str
    actor: str
    subject: str | None
    recipient: str | None
    purpose: str | None
    time: datetime


@dataclass(frozen=True)
class EventQuery:
    subject: str | None = None
    type: str | None = None
    actor: str | None = None
    recipient: str | None = None
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = -1
    limit: int = 100


class EventIndex:
    def __init__(self, engine: Engine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger
        self._lock = threading.Lock()

    def _indexed_size(self) -> int:
        with self.engine.connect() as conn:
            highest = conn.execute(select(func.max(ledger_event_index.c.entry_index))).scalar()
        return 0 if highest is None else int(highest) + 1

    def catch_up(self) -> int:
        """Index every entry not yet indexed; returns the indexed size."""
        with self._lock:
            start = self._indexed_size()
            size = self.ledger.size()
            while start < size:
                end = min(size, start + BATCH)
                self._index_batch(start, self.ledger.entries(start, end))
                start = end
            return size

    def _index_batch(self, start: int, leaves: list[bytes]) -> None:
        rows = []
        erased: list[tuple[str, int]] = []
        for offset, leaf in enumerate(leaves):
            index = start + offset
            envelope = parse_envelope(leaf)
            payload = self.ledger.payload(index) if envelope["payload_hash"] else None
            rows.append(
                {
                    "entry_index": index,
                    "type": envelope["type"][:100],
                    "actor": envelope["actor"][:200],
                    "subject": envelope["subject"],
                    "recipient": _text_member(payload, "recipient"),
                    "purpose": _text_member(payload, "purpose"),
                    "time": datetime.fromisoformat(envelope["time"].replace("Z", "+00:00")),
                }
            )
            if envelope["type"] == ERASURE_EVENT_TYPE and envelope["subject"]:
                erased.append((envelope["subject"], index))
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(ledger_event_index), rows)
            except IntegrityError:
                # Another process indexed (part of) this batch meanwhile; insert what is missing.
                present = set(
                    conn.execute(
                        select(ledger_event_index.c.entry_index).where(
                            ledger_event_index.c.entry_index.between(start, start + len(rows) - 1)
                        )
                    ).scalars()
                )
                missing = [row for row in rows if row["entry_index"] not in present]
                if missing:
                    conn.execute(insert(ledger_event_index), missing)
            for subject, index in erased:
                conn.execute(
                    update(ledger_event_index)
                    .where(ledger_event_index.c.subject == subject, ledger_event_index.c.entry_index < index)
                    .values(recipient=None, purpose=None)
                )

    def search(self, query: EventQuery) -> list[IndexedEvent]:
        self.catch_up()
        table = ledger_event_index
        conditions = [table.c.entry_index > query.after]
        for column, value in (
            (table.c.subject, query.subject),
            (table.c.type, query.type),
            (table.c.actor, query.actor),
            (table.c.recipient, query.recipient),
            (table.c.purpose, query.purpose),
        ):
            if value is not None:
                conditions.append(column == value)
        if query.since is not None:
            conditions.append(table.c.time >= query.since)
        if query.until is not None:
            conditions.append(table.c.time < query.until)
        statement = select(table).where(and_(*conditions)).order_by(table.c.entry_index).limit(query.limit)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).mappings().all()
        return [
            IndexedEvent(
                index=int(row["entry_index"]),
                type=row["type"],
                actor=row["actor"],
                subject=row["subject"],
                recipient=row["recipient"],
                purpose=row["purpose"],
                time=row["time"] if row["time"].tzinfo else row["time"].replace(tzinfo=UTC),
            )
            for row in rows
        ]
