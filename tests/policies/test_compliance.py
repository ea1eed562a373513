"""Compliance tools: the conflict checker (one case per finding), the agreement and the impact overview."""

from __future__ import annotations

import hashlib

import pytest

from policies import (
    DEFAULT_MATRIX,
    DEFAULT_TAXONOMY,
    RATING_RULES,
    assess_risks,
    assessment_markdown,
    check_compliance,
    load_matrix,
    load_taxonomy,
    parse_matrix,
    parse_taxonomy,
    render_agreement,
)

TAX_TEXT = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
MATRIX_TEXT = DEFAULT_MATRIX.read_text(encoding="utf-8")
TAX = load_taxonomy()
MATRIX = load_matrix(TAX)


def _codes(tax_text: str = TAX_TEXT, extra_rules: str = "") -> dict[str, list[str]]:
    tax = parse_taxonomy(tax_text, "t.yaml")
    matrix = parse_matrix(tax, MATRIX_TEXT + extra_rules, "m.yaml")
    found: dict[str, list[str]] = {}
    for f in check_compliance(tax, matrix.rules):
        found.setdefault(f.code, []).append(f.message)
    return found


def test_the_demo_files_only_raise_the_known_minors_finding() -> None:
    assert set(_codes()) == {"minors_without_guardian_consent"}
    assert all("repair_prediction" in m for m in _codes()["minors_without_guardian_consent"])


def test_missing_retention_period() -> None:
    text = TAX_TEXT.replace("    retention_days: 30\n", "", 1)
    assert _codes(text)["missing_retention"] == ["purpose 'data_portability' has no retention period"]


def test_purpose_without_legal_basis_where_it_is_used() -> None:
    text = TAX_TEXT.replace(
        "legal_basis: {CN: consent, EU: legitimate_interest, DE: legitimate_interest, US-CA: notice}",
        "legal_basis: {CN: consent, DE: legitimate_interest, US-CA: notice}",
    )
    assert _codes(text)["purpose_without_legal_basis"] == [
        "purpose 'repair_prediction' is allowed by the matrix but has no legal basis under GDPR (EU)"
    ]


def test_sensitive_category_reachable_without_a_separate_consent_purpose() -> None:
    rule = "  - {id: crm-income, effect: allow, role: crm, category: financial.income, purpose: service_delivery}\n"
    messages = _codes(extra_rules=rule)["sensitive_without_separate_consent"]
    assert any("'financial.income' reaches purpose 'service_delivery' (rule 'crm-income')" in m for m in messages)
    assert all("in CN" in m for m in messages)


def test_cross_border_recipient_without_separate_consent() -> None:
    rule = "  - {id: rnd-vin, effect: allow, role: rnd, category: vehicle.vin, purpose: service_delivery}\n"
    messages = _codes(extra_rules=rule)["cross_border_without_consent"]
    assert messages == [
        "recipient 'stuttgart-rnd' (DE) receives data for 'service_delivery', which is not consent-based in CN: "
        "every such transfer will be refused until a separate cross-border consent is recorded"
    ]


def test_rules_that_can_never_fire() -> None:
    rules = (
        "  - {id: agency-faces, effect: allow, role: marketing, category: biometric.face, purpose: marketing}\n"
        "  - {id: crm-faces-proof, effect: allow, role: crm, category: biometric, purpose: marketing,"
        " mode: predicate}\n"
    )
    messages = _codes(extra_rules=rules)["rule_never_fires"]
    assert messages == [
        "rule 'agency-faces' is always overridden by deny rule 'never-biometrics'",
        "rule 'crm-faces-proof' is always overridden by deny rule 'never-biometrics'",
    ]
    text = TAX_TEXT.replace(
        "  - {id: crm, label:", "  - {id: insurer, label: {zh-CN: 保险, en: Insurer}}\n  - {id: crm, label:"
    )
    lonely = "  - {id: insurer-vin, effect: allow, role: insurer, category: vehicle.vin, purpose: service_delivery}\n"
    assert _codes(text, lonely)["rule_never_fires"] == ["rule 'insurer-vin': no recipient has role 'insurer'"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_agreement_lists_exactly_what_the_matrix_allows_and_is_hash_recorded(lang: str) -> None:
    doc = render_agreement(TAX, MATRIX.rules, jurisdiction="CN", lang=lang, matrix_version=3)
    assert doc.version == "1.3" and doc.sha256 == hashlib.sha256(doc.text.encode()).hexdigest()
    assert doc.notice.sha256 == doc.sha256 and doc.notice.version == "1.3"
    assert TAX.recipient("stuttgart-rnd").name.get(lang) in doc.text
    assert TAX.category("biometric.face").label.get(lang) not in doc.text  # denied to everyone: never promised
    assert TAX.purpose("joint_rnd").value_offer is not None
    assert TAX.purpose("joint_rnd").value_offer.description.get(lang) in doc.text
    assert {"rnd-location", "finance-income-predicate", "dealer-recall"} <= set(doc.rules)
    assert "never-biometrics" not in doc.rules


def test_agreement_reflects_the_jurisdiction() -> None:
    cn = render_agreement(TAX, MATRIX.rules, jurisdiction="CN", lang="en", matrix_version=1).text
    eu = render_agreement(TAX, MATRIX.rules, jurisdiction="EU", lang="en", matrix_version=1).text
    us = render_agreement(TAX, MATRIX.rules, jurisdiction="US-CA", lang="en", matrix_version=1).text
    transfer = "only with your separate consent for this transfer"
    assert transfer in cn and transfer not in eu
    assert "You may object at any time" in eu and "You may object at any time" not in cn
    assert "you may opt out at any time" in us and "you may opt out at any time" not in eu


def test_agreement_changes_hash_when_the_matrix_changes() -> None:
    fewer = [r for r in MATRIX.rules if r.id != "marketing-city"]
    a = render_agreement(TAX, MATRIX.rules, jurisdiction="CN", lang="en", matrix_version=1)
    b = render_agreement(TAX, fewer, jurisdiction="CN", lang="en", matrix_version=1)
    assert a.sha256 != b.sha256 and "marketing-city" not in b.rules


def test_the_assessment_rates_minors_precise_location_to_the_german_partner_high_and_only_that() -> None:
    assessments = assess_risks(TAX, MATRIX.rules)
    high = [(a.category, a.recipient, a.customer_type, a.destination) for a in assessments if a.residual == "high"]
    assert high == [("location.precise", "stuttgart-rnd", "minor", "DE")]
    (minor,) = [a for a in assessments if a.residual == "high"]
    assert {"cross-border", "continuous-tracking", "sensitive", "minors"} <= set(minor.factors)
    assert {"separate-consent", "guardian-consent"} <= set(minor.mitigations)
    adult = next(
        a
        for a in assessments
        if (a.category, a.recipient, a.customer_type) == ("location.precise", "stuttgart-rnd", "standard")
    )
    assert (adult.inherent, adult.residual) == ("high", "medium")  # the same flow for an adult is mitigated to medium
    income = next(a for a in assessments if a.recipient == "acme-finance" and a.category == "financial.income")
    assert (income.mode, income.residual_severity, income.residual) == ("predicate", 1, "low")
    assert not any(a.category.startswith("biometric") for a in assessments)
    markdown = assessment_markdown(TAX, assessments)
    assert all(rule in markdown for rule in RATING_RULES)
    assert markdown.count("\n| **") == len(assessments)
