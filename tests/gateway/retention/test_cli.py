"""`consentry retention plan|run`: a dry run that changes nothing, then the run, both as JSON and as text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.runtime import Runtime
from gateway.settings import Settings
from ledger import Event
from policies import ConsentStatus


@dataclass(frozen=True)
class History:
    record_id: str
    old: int
    recent: int
    data: Path


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> History:
    """A customer who consented to marketing 400 days ago (its consent period is 365) and was read then."""
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONSENTRY_DATABASE_URL", raising=False)
    runtime = Runtime.start(Settings(data_dir=tmp_path / "data"))
    try:
        then = datetime.now(UTC) - timedelta(days=400)
        customer = runtime.customers.create(
            username="li.wei", password="pw-li-wei-123", display_name="Li Wei", jurisdiction="CN"
        )
        record = runtime.policies.consents.grant(
            subject_id=customer.customer_id,
            purposes=["marketing"],
            categories=["contact.email"],
            jurisdiction="CN",
            actor=customer.actor,
            at=then,
        )
        subject = runtime.pseudonyms(customer.customer_id)
        old = runtime.ledger.append(Event("access", "client:crm", subject, {"purpose": "marketing"}, then))
        recent = runtime.ledger.append(Event("access", "client:crm", subject, {"purpose": "marketing"}))
    finally:
        runtime.close()
    return History(record.record_id, old, recent, tmp_path / "data")


def test_plan_counts_what_is_due_and_changes_nothing_then_run_does_it(history: History) -> None:
    cli = CliRunner()
    planned = cli.invoke(app, ["retention", "plan", "--json"])
    assert planned.exit_code == 0, planned.output
    counts = json.loads(planned.output)
    assert counts["purposes"]["marketing"]["lapse"] == 1
    assert counts["purposes"]["marketing"]["erase_payload_by_kind"] == {"access_log": 1}
    assert counts["totals"] == {"lapse": 1, "erase_payload": 1, "delete_at_source": 0}
    assert json.loads(cli.invoke(app, ["retention", "plan", "--json"]).output)["totals"] == counts["totals"]

    text = cli.invoke(app, ["retention", "plan"])
    assert "marketing: lapse 1, erase payload 1 (access_log 1), delete at source 0" in text.output

    ran = cli.invoke(app, ["retention", "run", "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.output)
    assert report["ran"] and report["lapsed"] == [history.record_id] and report["erased_payloads"] == 1

    runtime = Runtime.start(Settings(data_dir=history.data))
    try:
        assert runtime.policies.consents.get(history.record_id).status is ConsentStatus.EXPIRED
        assert runtime.ledger.payload(history.old) is None
        assert runtime.ledger.payload(history.recent) is not None
        erasure = runtime.ledger.payload(report["erasure_entries"][0])
        assert erasure is not None and erasure["purpose"] == "marketing" and erasure["kind"] == "access_log"
        assert erasure["entries"] == [[history.old, history.old]]
    finally:
        runtime.close()

    after = cli.invoke(app, ["retention", "run"])
    assert after.exit_code == 0 and "Nothing was due" in after.output
