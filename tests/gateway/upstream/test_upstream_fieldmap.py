"""The field filter's rules (gateway.upstream.fieldmap docstring), case by case and as properties."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.upstream import CategoryStatus, DocumentTooDeep, FieldMap, InvalidDocument, fieldmap, filter_document
from gateway.upstream.client import count_leaves

R, W = CategoryStatus.RELEASED, CategoryStatus.WITHHELD


def run(document: Any, rules: list[Any], released: set[str]) -> Any:
    return filter_document(document, FieldMap.of(rules), released)


# --- rule 1 and 3: leaves carry data; unmapped leaves are removed and reported --------------------------


def test_unmapped_fields_are_removed_and_reported_by_pointer() -> None:
    result = run({"name": "Li", "imei": "3569", "a/b": 1}, [("/name", "identity.name")], {"identity.name"})
    assert result.document == {"name": "Li"}
    assert result.unmapped == ("/imei", "/a~1b")
    assert result.categories == {"identity.name": R}


def test_nothing_mapped_releases_nothing() -> None:
    result = run({"a": {"b": [1, 2]}, "c": None}, [], set())
    assert result.document == {}
    assert result.unmapped == ("/a/b/0", "/a/b/1", "/c")
    assert (result.released_leaves, result.withheld_leaves) == (0, 0)


def test_containers_emptied_by_filtering_disappear_and_leave_no_shape() -> None:
    doc = {"location": {"lat": 1.5, "lon": 2.5}, "name": "Li"}
    rules = [("/location/lat", "location.precise"), ("/location/lon", "location.precise"), ("/name", "identity.name")]
    assert run(doc, rules, {"identity.name"}).document == {"name": "Li"}


def test_empty_containers_are_leaves_and_need_a_mapping() -> None:
    doc: dict[str, Any] = {"fault_codes": [], "extras": {}}
    result = run(doc, [("/fault_codes", "vehicle.fault_codes")], {"vehicle.fault_codes"})
    assert result.document == {"fault_codes": []}
    assert result.unmapped == ("/extras",)


def test_null_false_and_zero_are_values_like_any_other() -> None:
    doc = {"a": None, "b": False, "c": 0, "d": ""}
    rules = [(f"/{k}", "x.k") for k in "abcd"]
    assert run(doc, rules, {"x.k"}).document == doc
    assert run(doc, rules, set()).document == {}


# --- rule 2: a mapping on a container releases its subtree only when it says so ---------------------------


def test_mapping_a_container_without_subtree_categorises_nothing_inside() -> None:
    doc = {"location": {"lat": 1.5, "lon": 2.5}}
    result = run(doc, [("/location", "location.precise")], {"location.precise"})
    assert result.document == {}
    assert result.unmapped == ("/location/lat", "/location/lon")


def test_subtree_mapping_covers_every_descendant_at_any_depth() -> None:
    doc = {"driving": {"scores": {"overall": 82}, "trips": [{"km": 1, "legs": [[1, 2], [3]]}]}}
    result = run(doc, [("/driving", "behavior.driving", True)], {"behavior.driving"})
    assert result.document == doc
    assert result.released_leaves == 5


def test_subtree_mapping_on_a_scalar_is_just_a_mapping() -> None:
    assert run({"a": 1}, [("/a", "x.a", True)], {"x.a"}).document == {"a": 1}


# --- rule 4: deny wins --------------------------------------------------------------------------------------


def test_a_leaf_with_several_categories_needs_all_of_them_released() -> None:
    doc = {"trips": [{"km": 3, "start": {"lat": 1, "lon": 2}}]}
    rules = [("/trips", "behavior.driving", True), ("$.trips[*].start", "location.precise", True)]
    only_driving = run(doc, rules, {"behavior.driving"})
    assert only_driving.document == {"trips": [{"km": 3}]}
    assert only_driving.categories == {"behavior.driving": R, "location.precise": W}
    assert only_driving.withheld_leaves == 2
    assert run(doc, rules, {"behavior.driving", "location.precise"}).document == doc
    assert run(doc, rules, {"location.precise"}).document == {}


def test_overlapping_pointer_and_descendant_path_narrow_never_widen() -> None:
    doc = {"contact": {"phone": "1"}, "emergency": {"phone": "2", "name": "N"}}
    rules = [("$..phone", "contact.phone"), ("/emergency", "contact.emergency", True)]
    assert run(doc, rules, {"contact.phone"}).document == {"contact": {"phone": "1"}}
    assert run(doc, rules, {"contact.emergency"}).document == {"emergency": {"name": "N"}}


def test_rule_order_does_not_matter() -> None:
    doc = {"a": {"b": 1, "c": 2}, "d": [1, {"e": 3}]}
    rules = [("/a", "x.a", True), ("/a/b", "x.b"), ("$..e", "x.e"), ("$.d[0]", "x.d")]
    expected = run(doc, rules, {"x.a", "x.e"})
    for order in itertools.permutations(rules):
        assert run(doc, list(order), {"x.a", "x.e"}) == expected


# --- rule 5: arrays filter element-wise ---------------------------------------------------------------------


def test_arrays_of_objects_filter_each_element() -> None:
    doc = {"trips": [{"km": 1, "gps": "x"}, {"km": 2}, {"gps": "y"}]}
    result = run(doc, [("$.trips[*].km", "behavior.driving")], {"behavior.driving"})
    assert result.document == {"trips": [{"km": 1}, {"km": 2}]}
    assert result.unmapped == ("/trips/0/gps", "/trips/2/gps")


def test_arrays_of_arrays_and_index_selectors() -> None:
    doc = {"m": [[1, 2, 3], [4, 5], []]}
    rules = [("$.m[*][0]", "x.first"), ("$.m[*][-1]", "x.last"), ("/m/2", "x.empty")]
    result = run(doc, rules, {"x.first", "x.empty"})
    # [1,2,3]: 1 released, 3 withheld, 2 unmapped; [4,5]: 4 released, 5 withheld; [] released as a leaf
    assert result.document == {"m": [[1], [4], []]}
    assert result.unmapped == ("/m/0/1",)
    assert result.categories == {"x.empty": R, "x.first": R, "x.last": W}


def test_pointer_index_selects_one_element_only() -> None:
    doc = {"codes": ["P0301", "P0420"]}
    assert run(doc, [("/codes/1", "vehicle.fault_codes")], {"vehicle.fault_codes"}).document == {"codes": ["P0420"]}


def test_descendant_selector_reaches_into_arrays() -> None:
    doc = {"a": [{"lat": 1}, {"b": {"lat": 2, "x": 0}}], "lat": 3}
    result = run(doc, [("$..lat", "location.precise")], {"location.precise"})
    assert result.document == {"a": [{"lat": 1}, {"b": {"lat": 2}}], "lat": 3}


# --- roots and empty results ---------------------------------------------------------------------------------


def test_array_root() -> None:
    doc = [{"name": "a", "id": 1}, {"name": "b"}]
    result = run(doc, [("$[*].name", "identity.name")], {"identity.name"})
    assert result.document == [{"name": "a"}, {"name": "b"}]
    assert run(doc, [("$[*].name", "identity.name")], set()).document == []


@pytest.mark.parametrize("root", ["text", 3, 2.5, True, None])
def test_scalar_root_released_or_not(root: Any) -> None:
    released = run(root, [("", "x.root")], {"x.root"})
    assert (released.document, released.released_leaves) == (root, 1)
    withheld = run(root, [("$", "x.root")], set())
    assert (withheld.document, withheld.released_leaves, withheld.categories) == (None, 0, {"x.root": W})
    unmapped = run(root, [], {"x.root"})
    assert (unmapped.document, unmapped.unmapped) == (None, ("",))


@pytest.mark.parametrize("root", [{}, []])
def test_empty_root_is_returned_empty_with_nothing_to_report(root: Any) -> None:
    result = run(root, [("", "x.root")], set())
    assert result.document == root
    assert (result.categories, result.unmapped, result.released_leaves, result.withheld_leaves) == ({}, (), 0, 0)


def test_input_document_is_not_modified() -> None:
    doc = {"a": [1, {"b": 2}], "c": 3}
    snapshot = repr(doc)
    run(doc, [("/c", "x.c")], {"x.c"})
    assert repr(doc) == snapshot


# --- rule 6: per-category status ------------------------------------------------------------------------


def test_status_covers_only_categories_present_in_this_document() -> None:
    rules = [("/name", "identity.name"), ("/national_id", "identity.national_id"), ("/vin", "vehicle.vin")]
    result = run({"name": "Li", "vin": "LSV"}, rules, {"vehicle.vin", "identity.national_id"})
    assert result.categories == {"identity.name": W, "vehicle.vin": R}
    assert result.withheld_categories == ("identity.name",)
    assert result.released_categories == ("vehicle.vin",)


# --- hostile documents ---------------------------------------------------------------------------------------


def test_nesting_beyond_the_limit_is_refused() -> None:
    doc: Any = 1
    for _ in range(70):
        doc = {"a": doc}
    with pytest.raises(DocumentTooDeep, match="deeper than 64"):
        run(doc, [("$..a", "x.a", True)], {"x.a"})
    assert filter_document(doc, FieldMap.of([("$..a", "x.a", True)]), {"x.a"}, max_depth=80).document == doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [({1: "x"}, "member names must be strings"), ({"a": float("nan")}, "NaN"), ({"a": b"x"}, "bytes")],
)
def test_values_that_are_not_json_are_refused(doc: Any, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        run(doc, [("$..*", "x.all")], {"x.all"})


# --- properties ----------------------------------------------------------------------------------------------

CATEGORIES = ["c.a", "c.b", "c.c", "c.d"]
KEYS = st.sampled_from(["a", "b", "c", "lat", "x/y", "0"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=25,
)
SELECTOR_TEXTS = st.sampled_from(
    ["", "$", "/a", "/b", "/a/b", "/0", "/a/0", "/x~1y", "$.a", "$..a", "$..lat", "$.a[*]", "$[*]", "$[*].b",
     "$..*", "$.*", "$..[0]", "$[-1]", "$.b[*].c", "$..b.c", "$['x/y']", "/c/0/lat"]
)  # fmt: skip
rules_strategy = st.lists(st.tuples(SELECTOR_TEXTS, st.sampled_from(CATEGORIES), st.booleans()), max_size=6)


def tag_leaves(value: Any, counter: itertools.count[int]) -> Any:
    """Replace every scalar with a unique marker so output leaves can be traced back to input paths."""
    if isinstance(value, dict):
        return {k: tag_leaves(v, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [tag_leaves(v, counter) for v in value]
    return f"leaf-{next(counter)}"


def oracle_select(node: Any, steps: tuple[Any, ...], path: tuple[Any, ...]) -> set[tuple[Any, ...]]:
    """Naive recursive JSONPath evaluation (a different algorithm from the filter's single walk)."""
    if not steps:
        return {path}
    step, rest = steps[0], steps[1:]
    children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
    out: set[tuple[Any, ...]] = set()
    for key, child in children:
        if step.selects(key, len(children)):
            out |= oracle_select(child, rest, (*path, key))
        if step.descendant:
            out |= oracle_select(child, steps, (*path, key))
    return out


def oracle_leaves(doc: Any, field_map: FieldMap) -> dict[tuple[Any, ...], set[str]]:
    """Every leaf path of ``doc`` with its categories, computed from the module docstring's rules."""
    selected = [(m, oracle_select(doc, m.selector.steps, ())) for m in field_map.mappings]
    leaves: dict[tuple[Any, ...], set[str]] = {}

    def visit(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict | list) and node:
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                visit(child, (*path, key))
            return
        cats = set()
        for mapping, paths in selected:
            if path in paths or (mapping.subtree and any(path[: len(p)] == p for p in paths)):
                cats.add(mapping.category)
        leaves[path] = cats

    visit(doc, ())
    return leaves


def output_markers(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in output_markers(v)]
    if isinstance(value, list):
        return [m for v in value for m in output_markers(v)]
    return [value] if isinstance(value, str) else []


def lookup(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def empty_containers_below_root(value: Any, root: bool = True) -> int:
    if isinstance(value, dict | list):
        children = list(value.values()) if isinstance(value, dict) else value
        return (0 if root or children else 1) + sum(empty_containers_below_root(c, False) for c in children)
    return 0


@settings(max_examples=200, deadline=None)
@given(json_values, rules_strategy, st.sets(st.sampled_from(CATEGORIES)))
def test_property_output_holds_exactly_the_released_mapped_leaves(
    raw: Any, rules: list[tuple[str, str, bool]], released: set[str]
) -> None:
    doc = tag_leaves(raw, itertools.count())
    field_map = FieldMap.of(rules)
    result = filter_document(doc, field_map, released)
    leaves = oracle_leaves(doc, field_map)
    by_marker = {lookup(doc, p): p for p in leaves if isinstance(lookup(doc, p), str)}
    allowed = {p for p, cats in leaves.items() if cats and cats <= released}

    # soundness: every value in the output is mapped and all its categories are released
    for marker in output_markers(result.document):
        categories = leaves[by_marker[marker]]
        assert categories, f"unmapped leaf {marker} leaked"
        assert categories <= released, f"{marker} leaked with withheld categories {categories - released}"
    # completeness: every released scalar leaf is in the output, in document order (markers count up)
    out = output_markers(result.document)
    assert sorted(out) == sorted(m for p in allowed if isinstance(m := lookup(doc, p), str))
    assert out == sorted(out, key=lambda m: int(m.removeprefix("leaf-")))
    # pruning: the only empty containers left below the root are released empty leaves
    released_empties = sum(1 for p in allowed if p and isinstance(lookup(doc, p), dict | list))
    assert empty_containers_below_root(result.document) == released_empties
    # accounting
    if not (isinstance(doc, dict | list) and not doc):
        assert result.released_leaves == len(allowed)
        assert result.withheld_leaves == sum(1 for cats in leaves.values() if cats and not cats <= released)
        assert len(result.unmapped) == sum(1 for cats in leaves.values() if not cats)
        present = set().union(*leaves.values()) if leaves else set()
        assert result.categories == {c: (R if c in released else W) for c in present}


@settings(max_examples=100, deadline=None)
@given(json_values, rules_strategy)
def test_property_releasing_every_category_keeps_every_mapped_leaf_and_more_never_hurts(
    raw: Any, rules: list[tuple[str, str, bool]]
) -> None:
    doc = tag_leaves(raw, itertools.count())
    field_map = FieldMap.of(rules)
    everything = filter_document(doc, field_map, set(CATEGORIES))
    some = filter_document(doc, field_map, {"c.a", "c.b"})
    assert set(output_markers(some.document)) <= set(output_markers(everything.document))
    assert everything.withheld_leaves == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, min_size=2, max_size=5), rules_strategy, st.sets(st.sampled_from(CATEGORIES)))
def test_property_a_field_map_reused_across_documents_filters_each_as_a_fresh_one_would(
    docs: list[Any], rules: list[tuple[str, str, bool]], released: set[str]
) -> None:
    shared = FieldMap.of(rules)  # its cached transitions carry over from one document to the next
    for doc in docs:
        assert filter_document(doc, shared, released) == filter_document(doc, FieldMap.of(rules), released)


def test_a_negative_index_is_resolved_against_each_arrays_own_length() -> None:
    field_map = FieldMap.of([("$.trips[-1]", "trip.last")])
    assert filter_document({"trips": ["a", "b"]}, field_map, {"trip.last"}).document == {"trips": ["b"]}
    assert filter_document({"trips": ["a", "b", "c"]}, field_map, {"trip.last"}).document == {"trips": ["c"]}
    assert filter_document({"trips": ["a"]}, field_map, {"trip.last"}).document == {"trips": ["a"]}


def test_ever_new_member_names_cannot_grow_the_cache_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_CACHED_TRANSITIONS", 50)
    field_map = FieldMap.of([("/known", "c.a")])
    doc = {f"field-{i}": i for i in range(500)} | {"known": "kept"}
    result = filter_document(doc, field_map, {"c.a"})
    assert result.document == {"known": "kept"}
    assert len(result.unmapped) == 500
    assert len(_cached_members(field_map)) <= 50


def test_a_full_cache_starts_over_so_the_usual_record_shape_is_cached_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_CACHED_TRANSITIONS", 50)
    field_map = FieldMap.of([("$..email", "contact.email")])
    filter_document({f"id-{i}": {"email": "x"} for i in range(200)}, field_map, {"contact.email"})
    usual = {"email": "a@example.com"}
    assert filter_document(usual, field_map, {"contact.email"}).document == usual
    assert "email" in _cached_members(field_map)


def test_long_member_names_are_filtered_but_never_cached() -> None:
    field_map = FieldMap.of([("/name", "identity.name")])
    long_name = "x" * (fieldmap.MAX_CACHED_NAME + 1)
    result = filter_document({"name": "Li", long_name: "leak?"}, field_map, {"identity.name"})
    assert result.document == {"name": "Li"} and result.unmapped == ("/" + long_name,)
    assert long_name not in _cached_members(field_map)


def test_a_record_shape_seen_before_walks_members_and_elements_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk looks member names up in the automaton's cache itself (the hot path); if its key ever differed
    from the one `member` or `element` files them under, every member would be worked out again."""
    fm = FieldMap.of([("/a/b", "x"), ("$..c", "y"), ("$.e[*].c", "y")])
    document = {"a": {"b": 1, "c": 2}, "d": {"c": 3}, "e": [{"c": 4}, 5]}
    first = filter_document(document, fm, {"x", "y"})
    computed: list[object] = []

    def counted(work: Any) -> Any:
        def step(*args: Any) -> Any:
            computed.append(args)
            return work(*args)

        return step

    monkeypatch.setattr(fm._automaton, "member", counted(fm._automaton.member))
    monkeypatch.setattr(fm._automaton, "element", counted(fm._automaton.element))
    assert filter_document(document, fm, {"x", "y"}) == first
    assert computed == []


def _cached_members(field_map: FieldMap) -> list[str]:
    """Every member name the field map's current plan has cached a transition for, once per transition."""
    names: list[str] = []
    pending, seen = [field_map._automaton.start], set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        names += node.members
        pending += [*node.members.values(), *node.elements.values()]
    return names


# --- the leaf count that caps a response before it is parsed (gateway.upstream.client.count_leaves) ----------


def _leaves(value: Any) -> int:
    if isinstance(value, dict | list) and value:
        return sum(_leaves(child) for child in (value.values() if isinstance(value, dict) else value))
    return 1


TEXT_WITH_JSON_PUNCTUATION = st.text(alphabet=st.sampled_from(list(',"\\[]{}:a\n\u00e9')), max_size=6)
punctuated_values = st.recursive(
    st.none() | st.integers(-5, 5) | TEXT_WITH_JSON_PUNCTUATION,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT_WITH_JSON_PUNCTUATION, children, max_size=4),
    max_leaves=25,
)


@given(punctuated_values, st.booleans(), st.integers(0, 30))
def test_the_leaf_count_read_from_the_text_is_the_parsed_documents(value: Any, ascii_only: bool, cap: int) -> None:
    """Exact whenever it exceeds the cap (commas, quotes and brackets inside strings are not structure), and
    never below the truth otherwise: a body is refused for its leaves only when it really has that many."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=None if cap % 2 else 1).encode()
    counted = count_leaves(text, cap)
    assert counted >= _leaves(value)
    if counted > cap:
        assert counted == _leaves(value)
