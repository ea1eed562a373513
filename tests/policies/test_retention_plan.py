"""The retention plan in the taxonomy: per purpose and record kind, a period and what ends it, validated whole."""

from __future__ import annotations

import pytest

from policies import RETENTION_KINDS, RetentionAction, ValidationError, load_taxonomy, parse_taxonomy
from policies.taxonomy import DEFAULT_TAXONOMY

DEMO = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
MARKETING_PLAN = """    retention:
      consent: {days: 365, then: [lapse, delete_at_source]}
      access_log: {days: 180}
      zk_answers: {days: 90}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_taxonomy(text, "tax.yaml")
    return [str(p) for p in info.value.problems]


def test_every_purpose_has_a_rule_for_every_kind_named_or_defaulted() -> None:
    tax = load_taxonomy()
    for purpose in tax.purposes.values():
        assert set(purpose.retention) == set(RETENTION_KINDS)
        for kind, rule in purpose.retention.items():
            assert rule.actions[0] is RETENTION_KINDS[kind][0]
            assert purpose.retention_days is not None and rule.days <= purpose.retention_days
    marketing = tax.purpose("marketing").retention
    assert marketing["consent"].days == 365
    assert marketing["consent"].actions == (RetentionAction.LAPSE, RetentionAction.DELETE_AT_SOURCE)
    assert marketing["access_log"].days == 180 and marketing["access_log"].actions == (RetentionAction.ERASE_PAYLOAD,)
    assert marketing["receipts"].days == 730  # not named: the purpose's retention_days


def test_a_purpose_without_any_period_has_no_plan() -> None:
    text = DEMO.replace("    retention_days: 30\n", "", 1)
    assert parse_taxonomy(text).purpose("data_portability").retention == {}


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("      invoices: {days: 10}\n", "unknown record kind 'invoices'"),
        ("      exports: {days: 0}\n", "'days' must be an integer >= 1"),
        ("      exports: {then: [erase_payload]}\n", "retention of 'exports' needs 'days'"),
        ("      exports: {days: 800}\n", "keeps exports 800 days, beyond its retention_days (730)"),
        ("      exports: {days: 10, then: [lapse]}\n", "'lapse' cannot end 'exports' (allowed: erase_payload)"),
        ("      receipts: {days: 10, keep: true}\n", "unknown field 'keep'"),
        ("      receipts: 10\n", "retention of 'receipts' must be a mapping"),
    ],
)
def test_each_defect_in_a_plan_is_reported_with_its_line(plan: str, message: str) -> None:
    text = DEMO.replace(MARKETING_PLAN, MARKETING_PLAN + plan, 1)
    assert text != DEMO
    problems = _problems(text)
    assert any(message in p and p.startswith("tax.yaml:") for p in problems), problems


def test_a_consent_plan_must_lapse() -> None:
    text = DEMO.replace(
        "consent: {days: 365, then: [lapse, delete_at_source]}", "consent: {days: 365, then: delete_at_source}"
    )
    assert any("the end of 'consent' must include 'lapse'" in p for p in _problems(text))


def test_a_plan_must_be_a_mapping() -> None:
    text = DEMO.replace(MARKETING_PLAN, "    retention: [consent]\n", 1)
    assert any("'retention' must map record kinds" in p for p in _problems(text))
