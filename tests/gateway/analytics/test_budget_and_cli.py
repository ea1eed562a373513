"""Budgets are spent in the ledger entry's transaction, never past their total, and `consentry analytics budget|
history` reads them back (JSON on stdout, precise errors on stderr with exit 2)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection
from typer.testing import CliRunner

from gateway.analytics import BudgetExceeded, BudgetKey, BudgetStore, Contributions, QueryRecord, period_bounds
from gateway.cli import app
from gateway.runtime import Runtime
from gateway.settings import Settings
from ledger import Event

TOTAL = 3.0


def answer(runtime: Runtime, key: BudgetKey, cost: float, resets_at: datetime) -> int:
    """What the service does for an answered query: pending query, then spend and release in the ledger append."""
    store, contributions = BudgetStore(runtime.engine), Contributions(runtime.engine)
    record = QueryRecord(
        str(uuid.uuid4()),
        key.organization,
        "rnd",
        key.purpose,
        key.source,
        "mean",
        "mileage_km",
        None,
        cost,
        0.0,
        key.period,
        datetime.now(UTC),
    )
    contributions.begin(record)
    contributions.add(record.query_id, ["a" * 64, "b" * 64])

    def effects(conn: Connection, index: int) -> None:
        store.spend(conn, key, TOTAL, cost, resets_at)
        contributions.release_in(conn, record.query_id, index)

    try:
        return runtime.ledger.append(Event("analytics.query", "client:rnd", None, {"epsilon": cost}), effects=effects)
    except BudgetExceeded:
        contributions.discard(record.query_id)
        raise


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONSENTRY_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_a_spend_past_the_total_is_refused_and_records_nothing(data_dir: Path) -> None:
    runtime = Runtime.start(Settings(data_dir=data_dir))
    try:
        label, _, resets_at = period_bounds("month", datetime.now(UTC))
        key = BudgetKey("stuttgart-rnd", "joint_rnd", "vehicle-cloud", ("mileage_km",), label)
        answer(runtime, key, 2.0, resets_at)
        size = runtime.ledger.size()
        with pytest.raises(BudgetExceeded) as refused:
            answer(runtime, key, 1.5, resets_at)
        assert refused.value.state.remaining == pytest.approx(1.0)
        assert runtime.ledger.size() == size
        assert len(Contributions(runtime.engine).history()) == 1
        answer(runtime, key, 1.0, resets_at)  # exactly what is left still fits
        assert BudgetStore(runtime.engine).state(key, TOTAL, resets_at).remaining == pytest.approx(0.0)
    finally:
        runtime.close()


def test_periods_are_utc_calendar_periods() -> None:
    moment = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert period_bounds("day", moment)[0] == "2026-12-31"
    assert period_bounds("week", moment)[0] == "2026-W53"
    assert period_bounds("month", moment)[2] == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_bounds("year", moment)[:2] == ("2026", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="unknown budget period"):
        period_bounds("fortnight", moment)


def test_the_cli_lists_budgets_and_history(data_dir: Path) -> None:
    runtime = Runtime.start(Settings(data_dir=data_dir))
    try:
        label, _, resets_at = period_bounds("month", datetime.now(UTC))
        key = BudgetKey("stuttgart-rnd", "joint_rnd", "vehicle-cloud", ("model", "mileage_km"), label)
        index = answer(runtime, key, 0.5, resets_at)
    finally:
        runtime.close()
    cli = CliRunner()
    budgets = cli.invoke(app, ["analytics", "budget", "--json"])
    assert budgets.exit_code == 0, budgets.output
    (row,) = json.loads(budgets.stdout)
    assert row["attributes"] == ["mileage_km", "model"] and row["epsilon_remaining"] == pytest.approx(2.5)
    assert "spent 0.5 of 3, 2.5 left" in cli.invoke(app, ["analytics", "budget"]).stdout
    (query,) = json.loads(cli.invoke(app, ["analytics", "history", "--json"]).stdout)
    assert query["ledger_index"] == index and query["epsilon"] == 0.5 and "result" not in query
    assert json.loads(cli.invoke(app, ["analytics", "budget", "--organization", "nobody", "--json"]).stdout) == []
    bad = cli.invoke(app, ["analytics", "history", "--limit", "0"])
    assert bad.exit_code == 2 and "--limit" in bad.stderr
