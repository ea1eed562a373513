"""The gateway's own tables (its own MetaData and Alembic chain) and the database wiring."""

from gateway.store import analytics_tables as _analytics_tables  # noqa: F401  (registers its tables)
from gateway.store import customer_tables as _customer_tables  # noqa: F401  (registers its tables)
from gateway.store import federation_tables as _federation_tables  # noqa: F401  (registers its tables)
from gateway.store import retention_tables as _retention_tables  # noqa: F401  (registers its tables)
from gateway.store import wallet_binding_tables as _wallet_binding_tables  # noqa: F401  (registers its tables)
from gateway.store import zk_relay_tables as _zk_relay_tables  # noqa: F401  (registers its tables)
from gateway.store.database import create_db_engine
from gateway.store.migrate import upgrade, upgrade_all
from gateway.store.tables import metadata

__all__ = ["create_db_engine", "metadata", "upgrade", "upgrade_all"]
