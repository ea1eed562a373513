"""The answer verifier stands alone: a fresh interpreter that imports it, and verifies with it, has loaded no
database library, no web framework and nothing of the gateway (issue 13 point 4, issue 15 point 6)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("sqlalchemy", "alembic", "fastapi", "starlette", "psycopg", "uvicorn", "gateway")

PROGRAM = """
import json, sys
from zkp import verify_full_answer, TrustAnchors, ProvenAnswer, Evidence
import ledger, credentials, wallet
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(loaded))
"""


def test_the_verifier_the_ledger_and_the_wallet_import_without_server_dependencies() -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {"zkp", "ledger", "wallet"} <= loaded
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
