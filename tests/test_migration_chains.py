"""Every Alembic chain has exactly one head, and a database deployed at the old heads reaches it.

The chains are found, not listed: every `migrations` directory with an `env.py` and a `versions` folder inside
the packages pyproject.toml ships.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from gateway.store.migrate import MIGRATIONS_DIR, VERSION_TABLE, library_upgraders, upgrade
from ledger.store import Ledger
from tests.packaging.project import ROOT, runtime_packages


def _chains() -> list[Path]:
    found = []
    for package in runtime_packages():
        for env in sorted((ROOT / package).rglob("migrations/env.py")):
            if (env.parent / "versions").is_dir():
                found.append(env.parent)
    return found


def test_the_chains_are_found() -> None:
    names = {str(chain.relative_to(ROOT)).split("/")[0] for chain in _chains()}
    assert {"ledger", "policies", "credentials", "gateway"} <= names


@pytest.mark.parametrize("chain", _chains(), ids=lambda chain: str(chain.relative_to(ROOT)))
def test_each_chain_has_one_head(chain: Path) -> None:
    heads = ScriptDirectory(str(chain)).get_heads()
    assert len(heads) == 1, f"{chain.relative_to(ROOT)} has heads {sorted(heads)}: add a merge revision"


def test_a_database_at_the_three_former_gateway_heads_upgrades_to_the_one_head(sqlite_url: str) -> None:
    """Deployed databases hold the former heads in their version table; the merge revision replaces them."""
    ledger = Ledger.open(sqlite_url)
    try:
        for _, upgrader in library_upgraders():
            upgrader(ledger.engine)
        for former in ("0004_erasure_leases", "0002_proxy", "0002_zk_anchors"):
            upgrade(ledger.engine, former)
    finally:
        ledger.close()
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        before = {row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}
    assert before == {"0004_erasure_leases", "0002_proxy", "0002_zk_anchors"}
    upgrade(engine)
    with engine.connect() as conn:
        after = [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
    engine.dispose()
    assert after == list(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
