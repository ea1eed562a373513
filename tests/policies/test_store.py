"""Consent records and matrix versions in SQL: every event is a ledger entry committed atomically with its rows."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ledger import parse_envelope, pseudonym
from policies import ConsentError, ConsentStatus, Notice, SubjectContext, ValidationError, fold
from policies.runtime import PolicyRuntime
from policies.schema import consent_events, consent_records, matrix_versions
from tests.policies.conftest import PSEUDONYM_KEY

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _count(rt: PolicyRuntime, table: object) -> int:
    with rt.ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_every_consent_event_is_a_ledger_entry_with_a_pseudonym_never_the_subject(runtime: PolicyRuntime) -> None:
    notice = Notice("notice-CN-zh-CN", "1.1", "ab" * 32)
    record = runtime.consents.grant(
        subject_id="13800000000",
        purposes=["repair_prediction"],
        categories=["vehicle"],
        jurisdiction="CN",
        actor="customer:portal",
        notice=notice,
        at=T0,
    )
    withdrawn = runtime.consents.withdraw(record.record_id, actor="customer:portal", at=T0 + timedelta(hours=1))
    assert withdrawn.ledger_index == record.ledger_index + 1  # type: ignore[operator]
    for index, status in ((record.ledger_index, "given"), (withdrawn.ledger_index, "withdrawn")):
        assert index is not None
        leaf = runtime.ledger.entry(index)
        envelope = parse_envelope(leaf)
        assert envelope["type"] == f"consent.{status}"
        assert envelope["subject"] == pseudonym(PSEUDONYM_KEY, "13800000000")
        assert b"13800000000" not in leaf
        payload = runtime.ledger.payload(index)
        assert payload is not None and payload["record_id"] == record.record_id
        assert "13800000000" not in json.dumps(payload)
    assert runtime.ledger.payload(record.ledger_index or 0)["notice"]["sha256"] == "ab" * 32  # type: ignore[index]


def test_current_state_is_the_fold_of_the_full_history(runtime: PolicyRuntime) -> None:
    c = runtime.consents
    rec = c.grant(subject_id="s1", purposes=["marketing"], categories=["contact"], jurisdiction="CN", actor="a", at=T0)
    c.renew(rec.record_id, actor="a", valid_until=T0 + timedelta(days=365), at=T0 + timedelta(days=1))
    c.withdraw(rec.record_id, actor="a", at=T0 + timedelta(days=2))
    c.give_again(rec.record_id, actor="a", at=T0 + timedelta(days=3))
    history = c.history("s1")
    assert [e.status for e in history] == [
        ConsentStatus.GIVEN,
        ConsentStatus.RENEWED,
        ConsentStatus.WITHDRAWN,
        ConsentStatus.GIVEN,
    ]
    stored = c.get(rec.record_id)
    assert stored.status is ConsentStatus.GIVEN and stored.seq == 4
    assert stored.ledger_index == history[-1].ledger_index
    first = history[0]
    replayed = fold(
        [
            type(first)(
                first.record_id, first.seq, first.status, first.time, first.actor, _scope(rec), first.ledger_index
            ),
            *[
                type(e)(e.record_id, e.seq, e.status, e.time, e.actor, _changes(e.changes), e.ledger_index)
                for e in history[1:]
            ],
        ]
    )
    assert replayed == stored


def _scope(rec: object) -> dict[str, object]:
    from dataclasses import asdict

    data = asdict(rec)  # type: ignore[call-overload]
    for key in ("record_id", "status", "event_time", "seq", "ledger_index"):
        data.pop(key)
    data["notice"] = None
    for key in ("purposes", "categories", "recipients"):
        data[key] = tuple(data[key])
    return data


def _changes(changes: dict[str, object]) -> dict[str, object]:
    out = dict(changes)
    if isinstance(out.get("valid_until"), str):
        out["valid_until"] = datetime.fromisoformat(str(out["valid_until"]))
    return out


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"purposes": ["resale"]}, "purposes", "unknown purpose 'resale'"),
        ({"categories": ["vehicle.colour"]}, "categories", "unknown category 'vehicle.colour'"),
        ({"categories": ["*"]}, "categories", "unknown category '*'"),
        ({"recipients": ["org:nobody"]}, "recipients", "unknown recipient 'org:nobody'"),
        ({"jurisdiction": "XX"}, "jurisdiction", "unknown jurisdiction 'XX'"),
        ({"valid_until": T0 - timedelta(days=1)}, "valid_until", "is not after"),
        ({"method": "fax"}, "method", "unknown value 'fax'"),
        ({"purposes": []}, "purposes", "at least one purpose"),
        ({"actor": ""}, "actor", "non-empty"),
    ],
)
def test_bad_consent_input_is_refused_and_nothing_is_recorded(
    runtime: PolicyRuntime, kwargs: dict[str, object], field: str, message: str
) -> None:
    args: dict[str, object] = {
        "subject_id": "s2",
        "purposes": ["marketing"],
        "categories": ["contact"],
        "jurisdiction": "CN",
        "actor": "admin:bob",
        "at": T0,
        **kwargs,
    }
    size = runtime.ledger.size()
    with pytest.raises(ConsentError, match=message) as info:
        runtime.consents.grant(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert runtime.ledger.size() == size
    assert _count(runtime, consent_records) == 0


def test_an_impossible_transition_appends_no_ledger_entry(runtime: PolicyRuntime) -> None:
    c = runtime.consents
    rec = c.grant(subject_id="s3", purposes=["marketing"], categories=["contact"], jurisdiction="CN", actor="a")
    c.invalidate(rec.record_id, actor="admin:dpo")
    size = runtime.ledger.size()
    with pytest.raises(ConsentError, match="cannot move a invalidated record to withdrawn"):
        c.withdraw(rec.record_id, actor="a")
    with pytest.raises(ConsentError, match="no consent record"):
        c.withdraw("no-such-record", actor="a")
    with pytest.raises(ConsentError, match="has not expired"):
        c.expire(rec.record_id, actor="system")
    assert runtime.ledger.size() == size
    assert _count(runtime, consent_events) == 2


def test_policy_changes_are_versioned_ledgered_and_a_bad_change_is_rejected_whole(runtime: PolicyRuntime) -> None:
    store = runtime.matrix
    assert store.version() == 1
    size = runtime.ledger.size()
    with pytest.raises(ValidationError) as info:
        store.change(
            actor="admin:alice",
            add=[
                {
                    "id": "ok-rule",
                    "effect": "allow",
                    "role": "crm",
                    "category": "location.city",
                    "purpose": "marketing",
                },
                {"id": "bad-rule", "effect": "allow", "role": "pilot"},
            ],
        )
    assert "rule 'bad-rule': unknown role 'pilot'" in str(info.value)
    with pytest.raises(ValidationError, match="contradicts"):
        store.change(actor="admin:alice", add=[{"id": "x", "effect": "allow", "category": "biometric", "mode": "*"}])
    with pytest.raises(ValidationError, match="cannot remove unknown rule 'ghost'"):
        store.change(actor="admin:alice", remove=["ghost"])
    assert (store.version(), runtime.ledger.size()) == (1, size)

    change = store.change(actor="admin:alice", remove=["marketing-city"], note="no city for the agency")
    assert change.version == 2 and change.diff["removed"][0]["id"] == "marketing-city"
    envelope = parse_envelope(runtime.ledger.entry(change.ledger_index))
    assert (envelope["type"], envelope["actor"]) == ("policy.change", "admin:alice")
    payload = runtime.ledger.payload(change.ledger_index)
    assert payload is not None and payload["diff"] == change.diff and payload["version"] == 2
    assert [h["version"] for h in store.history()] == [1, 2]
    assert "marketing-city" not in {r.id for r in store.rules()}
    assert "marketing-city" in {r.id for r in store.rules(1)}
    with pytest.raises(ValidationError, match="leaves the matrix as it is"):
        store.apply(store.rules(), actor="admin:alice")
    assert _count(runtime, matrix_versions) == 2


def test_concurrent_events_on_one_record_serialise(runtime: PolicyRuntime) -> None:
    """Ten threads withdraw the same record: exactly one succeeds, the rest are refused, one ledger entry."""
    rec = runtime.consents.grant(
        subject_id="s4", purposes=["marketing"], categories=["contact"], jurisdiction="CN", actor="a"
    )
    size = runtime.ledger.size()

    def withdraw(_: int) -> bool:
        try:
            runtime.consents.withdraw(rec.record_id, actor="a")
            return True
        except ConsentError:
            return False

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(withdraw, range(10)))
    assert results.count(True) == 1
    assert runtime.ledger.size() == size + 1


def test_decisions_from_many_threads_agree(runtime: PolicyRuntime) -> None:
    runtime.consents.grant(
        subject_id="s5", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="a"
    )
    subject = SubjectContext("s5", "standard", "CN")
    cats = ["vehicle.vin", "identity.national_id", "contact.phone", "location.precise", "vehicle.fault_codes"]

    def decide(_: int) -> tuple[str, ...]:
        return runtime.engine.decide("dealer-sh-4s", subject, cats, "repair_prediction").allowed

    with ThreadPoolExecutor(8) as pool:
        answers = set(pool.map(decide, range(200)))
    assert answers == {("vehicle.vin", "vehicle.fault_codes")}


@pytest.mark.postgres
def test_the_store_and_engine_on_postgresql(pg_runtime: PolicyRuntime) -> None:
    rt = pg_runtime
    subject = SubjectContext("pg-1", "standard", "CN")
    rec = rt.consents.grant(
        subject_id="pg-1", purposes=["repair_prediction"], categories=["vehicle"], jurisdiction="CN", actor="a"
    )
    got = rt.engine.decide("dealer-sh-4s", subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
    assert got.allowed and got.consent is not None and got.consent.ledger_index == rec.ledger_index
    rt.consents.withdraw(rec.record_id, actor="a")
    got = rt.engine.decide("dealer-sh-4s", subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
    assert got.reasons[-1] == "consent_withdrawn"
    rt.matrix.change(actor="admin:a", remove=["dealer-vehicle-repair"])
    got = rt.engine.decide("dealer-sh-4s", subject, ["vehicle.vin"], "repair_prediction").of("vehicle.vin")
    assert got.reasons[0] == "no_matching_rule"


def test_stock_casbin_given_a_stored_version_answers_as_the_indexed_evaluator(runtime: PolicyRuntime) -> None:
    """model.conf is the declared policy language: stock Casbin loaded with the stored rows decides the same."""
    from policies import IndexedEnforcer, new_casbin_enforcer

    rules = runtime.matrix.rules()
    stock = new_casbin_enforcer()
    stock.add_policies([rule.casbin_row() for rule in rules])
    assert len(stock.get_policy()) == len(rules)
    ours = IndexedEnforcer(rules)
    tax = runtime.taxonomy
    for role in tax.roles:
        for category in tax.categories:
            for purpose in tax.purposes:
                for mode in ("release", "predicate"):
                    want = stock.enforce(role, "vip", category, purpose, mode)
                    assert ours.evaluate(role, "vip", tax.lineage(category), purpose, mode).allowed == want
