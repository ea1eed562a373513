"""The ledger's tables (its own MetaData, so other packages migrate independently in the same database).

- `ledger_head`: the single row every writer locks; it holds the size and the checkpoint count so a
  deleted last entry or checkpoint is caught by `verify`, the log's origin, fixed once claimed,
  and a counter of readiness write probes.
- `ledger_entries`: the canonical leaf data, by index.
- `ledger_nodes`: one row per complete subtree (see `ledger.tree`).
- `ledger_payloads`: salt and payload beside the log, deleted on erasure.
- `ledger_checkpoints`: every signed checkpoint ever published, numbered from 0.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, SmallInteger, String, Table, Text

metadata = MetaData()

# SQLite only aliases the rowid (the compact, fastest key) when the column is spelled INTEGER.
Index64 = BigInteger().with_variant(Integer(), "sqlite")

head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("checkpoints", BigInteger, nullable=False),
    Column("origin", Text, nullable=True),
    Column("write_probes", BigInteger, nullable=False, server_default="0"),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

payloads = Table(
    "ledger_payloads",
    metadata,
    Column("idx", Index64, primary_key=True, autoincrement=False),
    Column("subject", String, nullable=True, index=True),
    Column("salt", LargeBinary, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", Index64, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
)

HEAD_ID = 1
