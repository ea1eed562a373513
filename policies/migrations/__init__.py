"""Alembic chain of the policies tables (version table alembic_version_policies)."""
