"""The matrix in Casbin: validation, deny by default, explicit deny wins, and the index agrees with stock Casbin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Effect, IndexedEnforcer, MatrixRule, ValidationError, load_matrix, load_taxonomy, parse_matrix
from policies.enforcer import MODEL_PATH, category_match, mode_match, new_casbin_enforcer
from tests.packaging.private_api import private_uses
from tests.packaging.project import ROOT, runtime_packages

TAX = load_taxonomy()


def test_demo_matrix_is_valid() -> None:
    assert len(load_matrix(TAX).rules) > 30


def test_stock_deny_override_effect_allows_an_unmatched_request_and_ours_denies_it() -> None:
    """The issue's warning, demonstrated: `!some(where (p.eft == deny))` says yes when no rule matches."""
    import casbin

    model = casbin.Enforcer.new_model(
        text=MODEL_PATH.read_text().replace(
            "some(where (p.eft == allow)) && !some(where (p.eft == deny))", "!some(where (p.eft == deny))"
        )
    )
    stock = casbin.Enforcer(model)
    stock.add_function("categoryMatch", category_match)
    stock.add_function("modeMatch", mode_match)
    stock.add_policy("dealer", "*", "vehicle", "repair_prediction", "release", "allow", "r1")
    request = ("marketing", "standard", "identity.name", "marketing", "release")
    assert stock.enforce(*request) is True
    ours = IndexedEnforcer([MatrixRule("r1", Effect.ALLOW, "dealer", "*", "vehicle", "repair_prediction")])
    outcome = ours.evaluate("marketing", "standard", ("identity.name", "identity"), "marketing", "release")
    assert (outcome.allowed, outcome.reason, outcome.rule) == (False, "no_matching_rule", None)
    assert IndexedEnforcer([]).evaluate("dealer", "vip", ("vehicle",), "marketing", "release").allowed is False


def test_explicit_deny_beats_a_more_specific_allow_and_is_cited() -> None:
    rules = [
        MatrixRule("allow-vin", Effect.ALLOW, "dealer", "vip", "vehicle.vin", "repair_prediction"),
        MatrixRule("deny-vehicle", Effect.DENY, "*", "*", "vehicle", "*", "*"),
    ]
    outcome = IndexedEnforcer(rules).evaluate(
        "dealer", "vip", ("vehicle.vin", "vehicle"), "repair_prediction", "release"
    )
    assert (outcome.allowed, outcome.reason, outcome.rule and outcome.rule.id) == (False, "matrix_deny", "deny-vehicle")


def test_predicate_mode_allows_proving_what_may_never_be_released() -> None:
    matrix = IndexedEnforcer(load_matrix(TAX).rules)
    lineage = TAX.lineage("financial.income")
    release = matrix.evaluate("finance", "standard", lineage, "financial_product_recommendation", "release")
    predicate = matrix.evaluate("finance", "standard", lineage, "financial_product_recommendation", "predicate")
    assert not release.allowed and release.reason == "no_matching_rule"
    assert predicate.allowed and predicate.rule is not None and predicate.rule.id == "finance-income-predicate"
    nid = TAX.lineage("identity.national_id")
    assert (
        matrix.evaluate("finance", "standard", nid, "financial_product_recommendation", "release").reason
        == "matrix_deny"
    )
    assert matrix.evaluate("finance", "standard", nid, "financial_product_recommendation", "predicate").allowed


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{id: a, effect: allow, role: pilot}", "rule 'a': unknown role 'pilot'"),
        ("{id: a, effect: permit}", "unknown effect 'permit'"),
        ("{id: a, effect: allow, category: vehicle.colour}", "unknown category 'vehicle.colour'"),
        ("{id: a, effect: allow, purpose: resale}", "unknown purpose 'resale'"),
        ("{id: a, effect: allow, mode: peek}", "unknown mode 'peek'"),
        ("{id: 'a,b', effect: allow}", "may hold only"),
        ("{id: a, effect: allow, when: never}", "unknown field 'when'"),
    ],
)
def test_bad_rules_are_refused_with_line(rule: str, message: str) -> None:
    text = f"version: 1\nrules:\n  - {{id: ok, effect: allow, role: dealer}}\n  - {rule}\n"
    with pytest.raises(ValidationError) as info:
        parse_matrix(TAX, text, "m.yaml")
    assert any(str(p).startswith("m.yaml:4: ") and message in str(p) for p in info.value.problems), info.value


def test_contradictory_and_duplicate_rules_are_refused() -> None:
    text = (
        "version: 1\nrules:\n"
        "  - {id: a, effect: allow, role: dealer, category: vehicle}\n"
        "  - {id: b, effect: deny, role: dealer, category: vehicle}\n"
        "  - {id: a, effect: allow, role: crm}\n"
    )
    with pytest.raises(ValidationError) as info:
        parse_matrix(TAX, text, "m.yaml")
    messages = [str(p) for p in info.value.problems]
    assert "m.yaml:4: rule 'b' contradicts rule 'a' (line 3)" in messages
    assert "m.yaml:5: duplicate rule id 'a' (line 3)" in messages


ROLES = [*TAX.roles, "*"]
CTYPES = [*TAX.customer_types, "*"]
CATS = [*TAX.categories, "*"]
PURPOSES = [*TAX.purposes, "*"]
MODES = ["release", "predicate", "*"]

rule_strategy = st.builds(
    lambda i, eft, role, ct, cat, p, mode: MatrixRule(f"r{i}", Effect(eft), role, ct, cat, p, mode),
    st.integers(0, 10**6),
    st.sampled_from(["allow", "deny"]),
    st.sampled_from(ROLES),
    st.sampled_from(CTYPES),
    st.sampled_from(CATS),
    st.sampled_from(PURPOSES),
    st.sampled_from(MODES),
)
request_strategy = st.tuples(
    st.sampled_from(list(TAX.roles)),
    st.sampled_from(list(TAX.customer_types)),
    st.sampled_from(list(TAX.categories)),
    st.sampled_from(list(TAX.purposes)),
    st.sampled_from(["release", "predicate"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(rule_strategy, max_size=25), st.lists(request_strategy, min_size=1, max_size=5))
def test_indexed_evaluation_equals_stock_casbin_scanning_every_rule(
    rules: list[MatrixRule], requests: list[tuple[str, str, str, str, str]]
) -> None:
    """The index only prunes rules that cannot match: the answer is the stock enforcer's on the full list."""
    stock = new_casbin_enforcer()
    for rule in rules:
        stock.add_policy(*rule.casbin_row())
    indexed = IndexedEnforcer(rules)
    for role, ctype, cat, purpose, mode in requests:
        outcome = indexed.evaluate(role, ctype, TAX.lineage(cat), purpose, mode)
        assert outcome.allowed == stock.enforce(role, ctype, cat, purpose, mode)
        if outcome.rule is not None:
            row = outcome.rule.casbin_row()
            assert category_match(cat, row[2]) and mode_match(mode, row[4], row[5])


def test_concurrent_evaluations_each_see_only_their_own_candidate_rules() -> None:
    """Eight threads share one evaluator; every answer equals the single-threaded one."""
    from concurrent.futures import ThreadPoolExecutor

    matrix = IndexedEnforcer(load_matrix(TAX).rules)
    cats = ["vehicle.vin", "identity.national_id", "contact.phone", "location.precise", "vehicle.fault_codes"]
    expected = {c: matrix.evaluate("dealer", "standard", TAX.lineage(c), "repair_prediction", "release") for c in cats}

    def ask(i: int) -> bool:
        c = cats[i % len(cats)]
        return matrix.evaluate("dealer", "standard", TAX.lineage(c), "repair_prediction", "release") == expected[c]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(ask, range(2000)))


def test_policies_use_casbin_through_its_public_api_only() -> None:
    """No overridden or called private method, no swapped internals: Casbin upgrades cannot change decisions."""
    modules = [path for package in runtime_packages() for path in (ROOT / package).rglob("*.py")]
    assert not [use for path in modules for use in private_uses(path, "casbin")]


# Few values per field, so that random rules collide: the same scope twice, parents and children, `*` everywhere.
FEW_ROLES = sorted(TAX.roles)[:2]
FEW_CTYPES = sorted(TAX.customer_types)[:2]
FEW_CATS = sorted(c for c in TAX.categories if c.split(".")[0] in ("vehicle", "contact"))
FEW_PURPOSES = sorted(TAX.purposes)[:2]
ALL_MODES = ["release", "predicate", "aggregate"]


def reference_outcome(
    rules: list[MatrixRule], role: str, ctype: str, cat: str, purpose: str, mode: str
) -> tuple[bool, str, MatrixRule | None]:
    """model.conf read literally: scan every rule with the matcher; any matching deny refuses, else any matching
    allow permits, else nothing matched and the answer is no. The rule cited is the most specific matching one of
    the deciding effect: most exact fields, then the deepest category, then an exact role, then an exact customer
    type, then the first in the matrix."""

    def matches(rule: MatrixRule) -> bool:
        return (
            rule.role in ("*", role)
            and rule.customer_type in ("*", ctype)
            and category_match(cat, rule.category)
            and rule.purpose in ("*", purpose)
            and mode_match(mode, rule.mode, rule.effect)
        )

    def specificity(item: tuple[int, MatrixRule]) -> tuple[int, int, bool, bool, int]:
        index, rule = item
        exact = sum(v != "*" for v in (rule.role, rule.customer_type, rule.category, rule.purpose))
        depth = 0 if rule.category == "*" else rule.category.count(".") + 1
        return (-exact, -depth, rule.role == "*", rule.customer_type == "*", index)

    matching = [(i, r) for i, r in enumerate(rules) if matches(r)]
    denies = [m for m in matching if m[1].effect is Effect.DENY]
    allows = [m for m in matching if m[1].effect is Effect.ALLOW]
    if denies:
        return False, "matrix_deny", min(denies, key=specificity)[1]
    if allows:
        return True, "matrix_allow", min(allows, key=specificity)[1]
    return False, "no_matching_rule", None


few_rules = st.lists(
    st.builds(
        lambda i, eft, role, ct, cat, p, mode: MatrixRule(f"r{i}", Effect(eft), role, ct, cat, p, mode),
        st.integers(0, 10**6),
        st.sampled_from(["allow", "deny"]),
        st.sampled_from([*FEW_ROLES, "*"]),
        st.sampled_from([*FEW_CTYPES, "*"]),
        st.sampled_from([*FEW_CATS, "*"]),
        st.sampled_from([*FEW_PURPOSES, "*"]),
        st.sampled_from([*ALL_MODES, "*"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(few_rules, st.data())
def test_indexed_evaluation_equals_a_reference_scan_and_cites_the_same_rule(
    rules: list[MatrixRule], data: st.DataObject
) -> None:
    """The index's answer, reason and cited rule are the reference scan's, for every request over a random matrix
    (denies, `*` in every field, parent categories, all three modes)."""
    indexed = IndexedEnforcer(rules)
    for role in FEW_ROLES:
        for ctype in FEW_CTYPES:
            cat = data.draw(st.sampled_from(FEW_CATS))
            for purpose in FEW_PURPOSES:
                for mode in ALL_MODES:
                    outcome = indexed.evaluate(role, ctype, TAX.lineage(cat), purpose, mode)
                    expected = reference_outcome(rules, role, ctype, cat, purpose, mode)
                    assert (outcome.allowed, outcome.reason, outcome.rule) == expected
