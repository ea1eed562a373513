"""SQL storage of status list entries, so a bit can flip inside the ledger's append transaction.

One row per allocated entry (list, index, set?) instead of a stored bitstring: flipping is a single-row
UPDATE that never contends with other entries, and the encoded list is rebuilt from the set rows.
Every method takes an optional `conn`: pass the ledger's connection to make the flip part of the same
transaction as the withdrawal event, so a receipt can never look valid after its consent was withdrawn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from credentials.bitstring_status_list import MIN_LIST_SIZE, STATUS_PURPOSES, encode_list, new_bitstring, set_bit
from credentials.errors import StatusListError

metadata = MetaData()

status_lists = Table(
    "credentials_status_lists",
    metadata,
    Column("url", String(500), primary_key=True),
    Column("purpose", String(20), nullable=False),
    Column("size", Integer, nullable=False),
)

status_entries = Table(
    "credentials_status_entries",
    metadata,
    Column("list_url", String(500), ForeignKey("credentials_status_lists.url"), primary_key=True),
    Column("status_index", Integer, primary_key=True),
    Column("is_set", Boolean, nullable=False, default=False),
)

issued_entries = Table(
    "credentials_issued_entries",
    metadata,
    Column("credential_id", String(500), primary_key=True),
    Column("list_url", String(500), primary_key=True),
    Column("status_index", Integer, primary_key=True),
    Column("purpose", String(20), nullable=False),
    ForeignKeyConstraint(["list_url", "status_index"], [status_entries.c.list_url, status_entries.c.status_index]),
)

_MAX_ALLOCATION_ATTEMPTS = 64


@dataclass(frozen=True)
class IssuedEntry:
    """One of our status entries held by an issued credential."""

    list_url: str
    index: int
    purpose: str


@dataclass(frozen=True)
class StatusList:
    url: str
    purpose: str
    size: int


class StatusListRepository:
    """Status lists and their entries; the pure encoding lives in bitstring_status_list."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self._engine.begin() as own:
            yield own

    def create_list(
        self, url: str, *, purpose: str = "revocation", size: int = MIN_LIST_SIZE, conn: Connection | None = None
    ) -> StatusList:
        new_bitstring(size)
        if purpose not in STATUS_PURPOSES:
            raise StatusListError(f"statusPurpose must be one of {', '.join(STATUS_PURPOSES)}")
        try:
            with self._tx(conn) as tx:
                tx.execute(insert(status_lists).values(url=url, purpose=purpose, size=size))
        except IntegrityError:
            raise StatusListError(f"status list {url} already exists") from None
        return StatusList(url, purpose, size)

    def get_list(self, url: str, *, conn: Connection | None = None) -> StatusList:
        with self._tx(conn) as tx:
            row = tx.execute(select(status_lists).where(status_lists.c.url == url)).first()
        if row is None:
            raise StatusListError(f"unknown status list {url}")
        return StatusList(row.url, row.purpose, row.size)

    def allocate(self, url: str, *, conn: Connection | None = None) -> int:
        """Reserve a uniformly random unused index; collisions retry, a full list is an error."""
        with self._tx(conn) as tx:
            status_list = self.get_list(url, conn=tx)
            used = tx.execute(
                select(func.count()).select_from(status_entries).where(status_entries.c.list_url == url)
            ).scalar_one()
            if used >= status_list.size:
                raise StatusListError(f"status list {url} is full")
            for _ in range(_MAX_ALLOCATION_ATTEMPTS):
                index = secrets.randbelow(status_list.size)
                savepoint = tx.begin_nested()
                try:
                    tx.execute(insert(status_entries).values(list_url=url, status_index=index, is_set=False))
                except IntegrityError:
                    savepoint.rollback()
                    continue
                savepoint.commit()
                return index
        raise StatusListError(f"no free index found in {url} after {_MAX_ALLOCATION_ATTEMPTS} attempts")

    def set_status(self, url: str, index: int, value: bool = True, *, conn: Connection | None = None) -> None:
        """Flip one entry; an index that was never allocated is an error, not a silent no-op."""
        with self._tx(conn) as tx:
            done = tx.execute(
                update(status_entries)
                .where(and_(status_entries.c.list_url == url, status_entries.c.status_index == index))
                .values(is_set=value)
            ).rowcount
        if done != 1:
            raise StatusListError(f"index {index} of {url} was never allocated")

    def get_status(self, url: str, index: int, *, conn: Connection | None = None) -> bool:
        with self._tx(conn) as tx:
            value = tx.execute(
                select(status_entries.c.is_set).where(
                    and_(status_entries.c.list_url == url, status_entries.c.status_index == index)
                )
            ).scalar_one_or_none()
        if value is None:
            raise StatusListError(f"index {index} of {url} was never allocated")
        return bool(value)

    def encoded_list(self, url: str, *, conn: Connection | None = None) -> str:
        """The current `encodedList` value for publishing in the status list credential."""
        with self._tx(conn) as tx:
            status_list = self.get_list(url, conn=tx)
            rows = tx.execute(
                select(status_entries.c.status_index).where(
                    and_(status_entries.c.list_url == url, status_entries.c.is_set.is_(True))
                )
            ).scalars()
            bits = new_bitstring(status_list.size)
            for index in rows:
                set_bit(bits, index, True)
        return encode_list(bits)

    def record_issued(self, credential_id: str, entries: list[IssuedEntry], *, conn: Connection | None = None) -> None:
        """Remember which of our entries a credential holds; an id issued before is refused, not overwritten."""
        with self._tx(conn) as tx:
            if self.issued_entries(credential_id, conn=tx):
                raise StatusListError(f"a credential with id {credential_id} was already issued")
            for entry in entries:
                tx.execute(
                    insert(issued_entries).values(
                        credential_id=credential_id,
                        list_url=entry.list_url,
                        status_index=entry.index,
                        purpose=entry.purpose,
                    )
                )

    def issued_entries(self, credential_id: str, *, conn: Connection | None = None) -> list[IssuedEntry]:
        with self._tx(conn) as tx:
            rows = tx.execute(
                select(issued_entries.c.list_url, issued_entries.c.status_index, issued_entries.c.purpose)
                .where(issued_entries.c.credential_id == credential_id)
                .order_by(issued_entries.c.list_url, issued_entries.c.status_index)
            ).all()
        return [IssuedEntry(row.list_url, row.status_index, row.purpose) for row in rows]
