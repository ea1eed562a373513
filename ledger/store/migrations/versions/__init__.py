"""Alembic revisions of the ledger chain."""
