"""Taxonomy files: the demo file loads; every malformed or contradictory file is refused naming file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import Sensitivity, UnknownNameError, ValidationError, load_taxonomy, parse_taxonomy
from policies.taxonomy import DEFAULT_TAXONOMY, LegalBasis

DEMO = DEFAULT_TAXONOMY.read_text(encoding="utf-8")


def test_demo_taxonomy_loads_with_categories_purposes_and_recipients() -> None:
    tax = load_taxonomy()
    assert tax.category("biometric.face").sensitivity is Sensitivity.SPECIAL
    assert tax.category("identity.national_id").sensitive
    assert tax.purpose("recall_notice").legal_basis["CN"] is LegalBasis.LEGAL_OBLIGATION
    assert tax.purpose("marketing").sale_or_share
    assert tax.purpose("joint_rnd").value_offer is not None
    assert tax.recipient("stuttgart-rnd").jurisdiction == "DE"
    assert tax.customer_type("minor").minor
    assert tax.lineage("vehicle.fault_codes") == ("vehicle.fault_codes", "vehicle")
    assert len(tax.digest) == 64


def test_lookups_of_unknown_names_raise_naming_the_kind() -> None:
    tax = load_taxonomy()
    with pytest.raises(UnknownNameError, match="unknown recipient 'nobody'"):
        tax.recipient("nobody")


def _problems(text: str) -> list[str]:
    with pytest.raises(ValidationError) as info:
        parse_taxonomy(text, "tax.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("find", "replace", "message"),
    [
        ("id: vehicle.vin,", "id: vehicle.vin, colour: red,", "unknown field 'colour'"),
        ("sensitivity: special            #", "sensitivity: secret            #", "sensitivity must be"),
        (
            "legal_basis: {CN: consent, EU: consent, DE: consent, US-CA: notice}",
            "legal_basis: {CN: legitimate_interest, EU: consent, DE: consent, US-CA: notice}",
            "'legitimate_interest' is not a legal basis under PIPL",
        ),
        ("    role: finance\n", "    role: banker\n", "unknown role 'banker'"),
        ("{id: contact.email,", "{id: contact.phone,", "duplicate category 'contact.phone'"),
        ("{id: location.city,", "{id: place.city,", "has no parent category 'place'"),
        (
            "legal_basis: {CN: contract, EU: contract, DE: contract, US-CA: contract}",
            "legal_basis: {CN: contract, XX: contract, DE: contract, US-CA: contract}",
            "unknown jurisdiction 'XX'",
        ),
    ],
)
def test_each_defect_is_reported_with_file_and_line(find: str, replace: str, message: str) -> None:
    assert find in DEMO
    text = DEMO.replace(find, replace, 1)
    problems = _problems(text)
    line = DEMO[: DEMO.index(find)].count("\n") + 1
    assert any(p.startswith(f"tax.yaml:{line}: ") and message in p for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    text = DEMO.replace("    role: finance\n", "    role: banker\n").replace("{id: location.city,", "{id: place.city,")
    assert len(_problems(text)) == 2


def test_yaml_syntax_errors_and_duplicate_keys_name_the_line() -> None:
    assert _problems("version: 1\ncategories: [\n")[0].startswith("tax.yaml:3: YAML syntax")
    assert _problems("version: 1\nversion: 2\n") == ["tax.yaml:2: duplicate key 'version'"]


def test_unreadable_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.yaml")


def test_minor_ages_per_jurisdiction_with_gdpr_member_state_values() -> None:
    tax = load_taxonomy()
    cn, eu, ca = (tax.jurisdiction(j).minors for j in ("CN", "EU", "US-CA"))
    assert cn is not None and cn.guardian_age() == 14  # PIPL Art. 31
    assert eu is not None and eu.guardian_age() == 16 and eu.guardian_age("FR") == 15 and eu.guardian_age("BE") == 13
    assert eu.guardian_age("XX") == 16  # a state without its own age keeps the regulation's
    assert ca is not None and ca.guardian_age() == 13 and ca.sale_opt_in_below == 16  # CCPA 1798.120(c)


def test_a_minors_sale_or_share_needs_an_opt_in_consent_where_the_law_says_so() -> None:
    tax = load_taxonomy()
    assert tax.legal_basis("marketing", "US-CA", "standard") is LegalBasis.NOTICE
    assert tax.legal_basis("marketing", "US-CA", "minor") is LegalBasis.CONSENT
    assert tax.legal_basis("repair_prediction", "US-CA", "minor") is LegalBasis.NOTICE  # not sold or shared
    assert tax.legal_basis("repair_prediction", "DE", "minor") is LegalBasis.LEGITIMATE_INTEREST


@pytest.mark.parametrize(
    ("find", "replace", "message"),
    [
        ("  US-CA:\n", "  US_CA:\n", "must be an ISO 3166-1 or 3166-2 code"),
        ("guardian_consent_below: 14 ", "guardian_consent_below: old ", "'guardian_consent_below' must be an integer"),
        ("member_states: {AT: 14,", "member_states: {Austria: 14,", "member state 'Austria' must be an ISO 3166-1"),
        ("sale_opt_in_below: 16 ", "sale_opt_in_below: 16\n      adult_at: 18 ", "unknown field 'adult_at'"),
    ],
)
def test_jurisdiction_codes_and_minor_rules_are_validated(find: str, replace: str, message: str) -> None:
    assert find in DEMO
    problems = _problems(DEMO.replace(find, replace, 1))
    assert any(message in p for p in problems), problems
