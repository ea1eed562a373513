"""The matrix's `questions:` section: parsed and validated with the rules, stored and versioned with them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    DEFAULT_MATRIX,
    DEFAULT_TAXONOMY,
    PolicyRuntime,
    Questions,
    ValidationError,
    load_matrix,
    load_taxonomy,
    matrix_from_document,
    parse_matrix,
)
from policies.questions import INTERVAL_OPERATORS, OPERATORS, SET_OPERATORS, SINGLE_OPERATORS

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
MATRIX_TEXT = DEFAULT_MATRIX.read_text(encoding="utf-8")
RULE = {
    "id": "dealer-vehicle",
    "effect": "allow",
    "role": "dealer",
    "category": "vehicle",
    "purpose": "service_delivery",
}


def document(questions: object) -> dict[str, Any]:
    return {"version": 1, "rules": [RULE], "questions": questions}


def problems_of(text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_matrix(TAXONOMY, text, "m.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_bundled_matrix_declares_the_demo_questions() -> None:
    questions = load_matrix(TAXONOMY).questions
    assert questions.budget == 1
    assert questions.template("adult") is not None
    assert questions.allowed("finance", "financial_product_recommendation") == {
        "adult",
        "income-band",
        "income-above-500k",
    }
    assert questions.allowed("finance", "marketing") == frozenset()


def test_a_matrix_without_questions_declares_none() -> None:
    matrix = matrix_from_document(TAXONOMY, {"version": 1, "rules": [RULE]})
    assert matrix.questions == Questions()
    assert matrix.questions.allowed("dealer", "service_delivery") == frozenset()


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            "templates: [catalyst-or-misfire, lives-in-shanghai]",
            "templates: [catalyst-or-misfire, shoe-size]",
            ":25: questions: asked: unknown question template 'shoe-size'",
        ),
        (
            "{role: dealer, purpose: repair_prediction,",
            "{role: astronaut, purpose: repair_prediction,",
            ":26: questions: asked: unknown role 'astronaut'",
        ),
        (
            "{role: dealer, purpose: repair_prediction,",
            "{role: dealer, purpose: joyriding,",
            ":26: questions: asked: unknown purpose 'joyriding'",
        ),
        (
            'op: ">=", operands: [18]',
            'op: ">=", operands: ["18"]',
            ":20: question template 'adult': operator '>=' compares integers",
        ),
        (
            "operands: [30000000, 100000000]",
            "operands: [100000000, 30000000]",
            ":21: question template 'income-band': operator 'within' takes two operands [low, high] with low <= high",
        ),
        (
            "op: in, operands: [P0420, P0300]",
            "op: in, operands: [P0420, P0420]",
            ":19: question template 'catalyst-or-misfire': operator 'in' takes distinct values",
        ),
        (
            'op: "==", operands: [Shanghai]',
            'op: "~=", operands: [Shanghai]',
            ":23: question template 'lives-in-shanghai': unknown operator '~='",
        ),
        ("{id: income-above-500k,", "{id: adult,", ":22: duplicate question template id 'adult' (line 20)"),
        ("  budget: 1\n", "  budget: 0\n", ":17: questions: budget must be an integer from 1 to 100"),
        ("  budget: 1\n", "  budget: 1\n  limit: 3\n", ":18: questions: unknown field 'limit'"),
        (
            "{role: dealer, purpose: repair_prediction,",
            "{role: dealer, purpose: service_delivery,",
            ":26: questions: role 'dealer' and purpose 'service_delivery' are already listed (line 25); "
            "list their templates once",
        ),
    ],
    ids=[
        "unknown-template",
        "unknown-role",
        "unknown-purpose",
        "string-threshold",
        "reversed-interval",
        "repeated-set-value",
        "unknown-operator",
        "duplicate-id",
        "zero-budget",
        "unknown-field",
        "repeated-asked",
    ],
)
def test_a_malformed_questions_section_names_file_line_and_rule(before: str, after: str, message: str) -> None:
    assert before in MATRIX_TEXT
    problems = problems_of(MATRIX_TEXT.replace(before, after, 1))
    assert any(p.startswith(f"m.yaml{message}") for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    text = MATRIX_TEXT.replace("[catalyst-or-misfire]", "[nope]").replace("operands: [18]", "operands: [true]")
    problems = problems_of(text)
    assert len(problems) == 2, problems


# -- properties ------------------------------------------------------------------------------------------------

ids = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
integers = st.integers(min_value=-(2**40), max_value=2**40)
words = st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True)


@st.composite
def valid_templates(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPERATORS))
    if op in INTERVAL_OPERATORS:
        operands: list[Any] = sorted(draw(st.lists(integers, min_size=2, max_size=2)))
    elif op in SET_OPERATORS:
        operands = draw(
            st.lists(st.one_of(words) if draw(st.booleans()) else integers, min_size=1, max_size=5, unique=True)
        )
    elif op in ("==", "!="):
        operands = [draw(st.one_of(words, integers))]
    else:
        operands = [draw(integers)]
    assert op in SINGLE_OPERATORS or op in INTERVAL_OPERATORS or op in SET_OPERATORS
    return {
        "id": draw(ids),
        "attribute": draw(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)),
        "op": op,
        "operands": operands,
    }


@st.composite
def valid_sections(draw: st.DrawFn) -> dict[str, Any]:
    templates = draw(st.lists(valid_templates(), max_size=6, unique_by=lambda t: t["id"]))
    names = [t["id"] for t in templates]
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(TAXONOMY.roles)), st.sampled_from(sorted(TAXONOMY.purposes))),
            max_size=4,
            unique=True,
        )
    )
    asked = (
        [
            {"role": r, "purpose": p, "templates": draw(st.lists(st.sampled_from(names), min_size=1, unique=True))}
            for r, p in pairs
        ]
        if names
        else []
    )
    return {"budget": draw(st.integers(min_value=1, max_value=100)), "templates": templates, "asked": asked}


@settings(max_examples=150, deadline=None)
@given(valid_sections())
def test_a_valid_section_parses_to_itself_and_survives_storage(section: dict[str, Any]) -> None:
    questions = matrix_from_document(TAXONOMY, document(section)).questions
    assert questions.as_dict() == section
    assert Questions.from_dict(questions.as_dict()) == questions
    for entry in section["asked"]:
        assert questions.allowed(entry["role"], entry["purpose"]) == frozenset(entry["templates"])


json_values = st.recursive(
    st.none() | st.booleans() | integers | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mangled_sections(draw: st.DrawFn) -> Any:
    """A valid section with one part replaced by arbitrary JSON."""
    section = draw(valid_sections())
    where = draw(st.sampled_from(["section", "budget", "templates", "template", "field", "asked", "entry"]))
    junk = draw(json_values)
    if where == "section":
        return junk
    if where in ("budget", "templates", "asked"):
        section[where] = junk
    elif where in ("template", "field") and section["templates"]:
        template = section["templates"][0]
        if where == "template":
            section["templates"][0] = junk
        else:
            template[draw(st.sampled_from(["id", "attribute", "op", "operands"]))] = junk
    elif where == "entry" and section["asked"]:
        section["asked"][0] = junk
    return section


@settings(max_examples=300, deadline=None)
@given(mangled_sections())
def test_any_section_either_parses_into_well_formed_templates_or_is_refused_with_problems(section: Any) -> None:
    try:
        questions = matrix_from_document(TAXONOMY, document(section)).questions
    except ValidationError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    declared = {t.id for t in questions.templates}
    assert len(declared) == len(questions.templates)
    for template in questions.templates:
        assert template.op in OPERATORS and template.operands
        assert all(isinstance(o, int | str) and not isinstance(o, bool) for o in template.operands)
        if template.op in SINGLE_OPERATORS:
            assert len(template.operands) == 1
        if template.op in INTERVAL_OPERATORS:
            assert len(template.operands) == 2 and template.operands[0] <= template.operands[1]  # type: ignore[operator]
    for entry in questions.asked:
        assert entry.role in TAXONOMY.roles and entry.purpose in TAXONOMY.purposes
        assert set(entry.templates) <= declared
    assert 1 <= questions.budget <= 100


# -- storage -----------------------------------------------------------------------------------------------------


def test_questions_are_versioned_with_the_matrix_and_a_change_of_them_alone_is_a_change(runtime: PolicyRuntime) -> None:
    store = runtime.matrix
    first = store.version()
    bundled = load_matrix(TAXONOMY)
    assert store.questions_in_force() == (first, bundled.questions)
    section = bundled.questions.as_dict()
    section["asked"] = [a for a in section["asked"] if a["role"] != "finance"]
    narrowed = matrix_from_document(
        TAXONOMY, {"version": 2, "rules": [r.as_dict() for r in bundled.rules], "questions": section}
    )
    change = store.apply(narrowed, actor="admin:test")
    assert change.version == first + 1
    assert change.diff["added"] == change.diff["removed"] == change.diff["changed"] == []
    assert {e["template"] for e in change.diff["questions"]["asked"]["removed"]} == {
        "adult",
        "income-band",
        "income-above-500k",
    }
    assert store.questions().allowed("finance", "financial_product_recommendation") == frozenset()
    assert store.questions(first) == bundled.questions  # the earlier version keeps its own
    # a change of rules alone keeps the questions in force
    kept = store.change(actor="admin:test", remove=["marketing-city"])
    assert store.questions(kept.version) == narrowed.questions
    assert "questions" not in kept.diff
    with pytest.raises(ValidationError, match="leaves the matrix as it is"):
        store.apply(
            matrix_from_document(
                TAXONOMY, {"version": 3, "rules": [r.as_dict() for r in store.rules()], "questions": section}
            ),
            actor="admin:test",
        )
    assert [h["diff"].get("questions") is not None for h in store.history()][-2:] == [True, False]


def test_questions_are_stored_and_read_back_on_postgresql(pg_runtime: PolicyRuntime) -> None:
    store = pg_runtime.matrix
    bundled = load_matrix(TAXONOMY)
    section = dict(bundled.questions.as_dict(), budget=3)
    rules = [r.as_dict() for r in bundled.rules]
    change = store.apply(
        matrix_from_document(TAXONOMY, {"version": 2, "rules": rules, "questions": section}), actor="a"
    )
    assert change.diff["questions"] == {"budget": {"before": 1, "after": 3}}
    assert store.questions_in_force() == (change.version, Questions.from_dict(section))
    assert store.questions(change.version - 1).budget == 1
