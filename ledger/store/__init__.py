"""The ledger in a SQL database: the `Ledger` log, its group-commit sequencer, tables, migrations and audit.

SQLite (WAL, full fsync) or PostgreSQL through SQLAlchemy; the tables migrate with the ledger's own Alembic
chain (version table `alembic_version_ledger`) when `Ledger.open` creates or opens them. Everything that
reads no database (hashing, proofs, notes, checkpoints, envelopes, the audit rules) is `ledger`'s.
"""

from ledger.store.audit import audit, check_head
from ledger.store.database import NotALedgerError
from ledger.store.log import Ledger
from ledger.store.sequencer import Effects

__all__ = ["Effects", "Ledger", "NotALedgerError", "audit", "check_head"]
