"""Run the policies Alembic chain; `consentry db upgrade` calls `upgrade` after the ledger's."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version_policies"
MIGRATION_LOCK = 0x504F4C4943590001  # PostgreSQL advisory lock id: "POLICY" + 1


def upgrade(engine: Engine) -> None:
    """Migrate the policies tables to head, serialised against other processes doing the same."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
