"""The ledger's Alembic chain (version table `alembic_version_ledger`), run by `ledger.store.Ledger.open`."""
