"""The field filter against a reference written literally from gateway.upstream.fieldmap's docstring.

The filter walks a document once through a lazily built automaton and per-released-set views kept across
requests; the reference selects with a naive JSONPath evaluation, categorises each leaf by rule 2 and rebuilds
the document. Every field of the result must agree, refusals included, however the caches were warmed.
"""

from __future__ import annotations

import sys
import threading
from math import isfinite
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.upstream import CategoryStatus, DocumentTooDeep, FieldMap, InvalidDocument, fieldmap, filter_document
from gateway.upstream.selectors import format_pointer
from tests.gateway.upstream.test_upstream_fieldmap import oracle_leaves

R, W = CategoryStatus.RELEASED, CategoryStatus.WITHHELD
_DROP = object()

# --- the reference -----------------------------------------------------------------------------------------


def refuse_what_is_not_json(node: Any, path: tuple[Any, ...], depth: int, max_depth: int) -> None:
    """Raise for the first value, in document order, that the filter must refuse."""
    if depth > max_depth:
        raise DocumentTooDeep(f"document nests deeper than {max_depth} levels at {format_pointer(path)!r}")
    if isinstance(node, dict):
        for key, child in node.items():
            if not isinstance(key, str):
                raise InvalidDocument(f"object member names must be strings, found {key!r} at {format_pointer(path)!r}")
            refuse_what_is_not_json(child, (*path, key), depth + 1, max_depth)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            refuse_what_is_not_json(child, (*path, index), depth + 1, max_depth)
    elif isinstance(node, float) and not isfinite(node):
        raise InvalidDocument(f"NaN and infinities are not JSON, found one at {format_pointer(path)!r}")
    elif not (node is None or isinstance(node, str | int | float)):
        raise InvalidDocument(f"{type(node).__name__} is not a JSON value, found one at {format_pointer(path)!r}")


def reference(document: Any, field_map: FieldMap, released: set[str], max_depth: int) -> tuple[Any, ...]:
    if isinstance(document, dict | list) and not document:
        return (type(document)(), {}, (), 0, 0)  # an empty root holds no data
    refuse_what_is_not_json(document, (), 0, max_depth)
    categories = oracle_leaves(document, field_map)  # rule 2, leaf by leaf
    unmapped: list[str] = []
    seen: set[str] = set()
    counts = {"released": 0, "withheld": 0}

    def keep(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict) and node:  # structure: kept as far as it still holds a released leaf (rule 1)
            members = {k: v for k, c in node.items() if (v := keep(c, (*path, k))) is not _DROP}
            return members or _DROP
        if isinstance(node, list) and node:  # rule 5
            elements = [v for i, c in enumerate(node) if (v := keep(c, (*path, i))) is not _DROP]
            return elements or _DROP
        cats = categories[path]
        if not cats:  # rule 3
            unmapped.append(format_pointer(path))
            return _DROP
        seen.update(cats)
        if cats <= released:  # rule 4
            counts["released"] += 1
            return node
        counts["withheld"] += 1
        return _DROP

    kept = keep(document, ())
    if kept is _DROP:  # the root is always returned, a scalar one as None
        kept = {} if isinstance(document, dict) else [] if isinstance(document, list) else None
    statuses = {c: R if c in released else W for c in sorted(seen)}  # rule 6
    return (kept, statuses, tuple(unmapped), counts["released"], counts["withheld"])


def outcome(run: Any) -> tuple[Any, ...]:
    """A result or a refusal as plain values; repr keeps True apart from 1 and member order in view."""
    try:
        result = run()
    except InvalidDocument as exc:
        return (type(exc).__name__, str(exc))
    if isinstance(result, tuple):
        document, statuses, unmapped, released, withheld = result
        released_categories = tuple(c for c, s in statuses.items() if s is R)
        withheld_categories = tuple(c for c, s in statuses.items() if s is W)
    else:
        document, statuses, unmapped = result.document, dict(result.categories), result.unmapped
        released, withheld = result.released_leaves, result.withheld_leaves
        released_categories, withheld_categories = result.released_categories, result.withheld_categories
    return (repr(document), statuses, unmapped, released, withheld, released_categories, withheld_categories)


# --- documents, field maps, released sets ------------------------------------------------------------------

CATEGORIES = ["c.a", "c.b", "c.c", "c.d"]
KEYS = st.sampled_from(["a", "b", "c", "lat", "x/y", "~t", "0", "1"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False, width=16)
    | st.text(max_size=2)
)
json_values = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=30,
)
# what a hostile or buggy caller could hand in: mostly JSON, now and then a value or a key that is not
NOT_JSON = st.sampled_from([float("nan"), float("inf"), float("-inf"), b"x", {1, 2}, (1,)])
hostile_values = st.recursive(
    SCALARS | NOT_JSON,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.sampled_from([7, None, ("a",)]), children, max_size=4)
    ),
    max_leaves=20,
)
SELECTOR_TEXTS = st.sampled_from(
    ["", "$", "/a", "/b", "/a/b", "/0", "/1", "/a/0", "/x~1y", "/~0t", "$.a", "$..a", "$..lat", "$.a[*]", "$[*]",
     "$[*].b", "$..*", "$.*", "$..[0]", "$[-1]", "$..[-1]", "$.b[*].c", "$..b.c", "$['x/y']", "/c/0/lat", "$..c[*]",
     "$.a.b.c", "$[0][1]", "$[*][*]"]
)  # fmt: skip
rules_strategy = st.lists(st.tuples(SELECTOR_TEXTS, st.sampled_from(CATEGORIES), st.booleans()), max_size=7)
released_sets = st.sets(st.sampled_from([*CATEGORIES, "not.in.the.map"]))


@settings(max_examples=300, deadline=None)
@given(json_values, rules_strategy, released_sets, st.integers(1, 8))
def test_property_the_filter_is_the_reference(
    document: Any, rules: list[tuple[str, str, bool]], released: set[str], max_depth: int
) -> None:
    field_map = FieldMap.of(rules)
    expected = outcome(lambda: reference(document, field_map, released, max_depth))
    assert outcome(lambda: filter_document(document, field_map, released, max_depth=max_depth)) == expected
    # and again from the warm caches
    assert outcome(lambda: filter_document(document, field_map, released, max_depth=max_depth)) == expected


@settings(max_examples=200, deadline=None)
@given(hostile_values, rules_strategy, released_sets, st.integers(0, 6))
def test_property_what_is_not_json_is_refused_as_the_reference_refuses_it(
    document: Any, rules: list[tuple[str, str, bool]], released: set[str], max_depth: int
) -> None:
    field_map = FieldMap.of(rules)
    expected = outcome(lambda: reference(document, field_map, released, max_depth))
    assert outcome(lambda: filter_document(document, field_map, released, max_depth=max_depth)) == expected


@settings(max_examples=150, deadline=None)
@given(
    rules_strategy,
    st.lists(st.tuples(json_values, released_sets), min_size=2, max_size=8),
    st.sampled_from([1, 3, 8, 65_536]),
)
def test_property_one_field_map_serving_many_released_sets_and_shapes_is_the_reference_every_time(
    rules: list[tuple[str, str, bool]], reads: list[tuple[Any, set[str]]], bound: int
) -> None:
    """Caches shared across reads, evicted and started over in the middle of a walk, change no result."""
    field_map = FieldMap.of(rules)
    with (
        mock.patch.object(fieldmap, "MAX_CACHED_TRANSITIONS", bound),
        mock.patch.object(fieldmap, "MAX_CACHED_RELEASED_SETS", bound),
        mock.patch.object(fieldmap, "MAX_CACHED_REPORTS", bound),
    ):
        for document, released in reads + reads:
            expected = outcome(lambda d=document, r=released: reference(d, field_map, r, 64))
            assert outcome(lambda d=document, r=released: filter_document(d, field_map, r)) == expected


# --- the demo record, the caches' bounds, sharing ------------------------------------------------------------


def demo_field_map() -> FieldMap:
    return FieldMap.of(
        [
            ("/name", "identity.name"),
            ("/location/lat", "location.precise"),
            ("/annual_income", "financial.income", True),
            ("/driving", "behavior.driving", True),
            ("$.driving.trips[*].start", "location.precise", True),
        ]
    )


DEMO_RECORD = {
    "name": "Li Wei",
    "annual_income": {"amount": 420000, "currency": "CNY"},
    "location": {"lat": 31.23, "lon": 121.47},
    "driving": {"scores": {"overall": 82}, "trips": [{"km": 18.4, "start": {"lat": 31.2}}, {"km": 17.9}]},
    "telematics_unit": {"imei": "356938035643809"},
}


def test_the_demo_record_is_the_reference_for_every_released_set() -> None:
    field_map = demo_field_map()
    everything = sorted(field_map.categories)
    for mask in range(2 ** len(everything)):
        released = {c for i, c in enumerate(everything) if mask >> i & 1}
        expected = outcome(lambda r=released: reference(DEMO_RECORD, field_map, r, 64))
        for _ in range(2):
            assert outcome(lambda r=released: filter_document(DEMO_RECORD, field_map, r)) == expected


def test_the_statuses_handed_out_are_the_callers_own() -> None:
    field_map = demo_field_map()
    first = filter_document(DEMO_RECORD, field_map, {"identity.name"})
    assert isinstance(first.categories, dict)
    first.categories.clear()
    again = filter_document(DEMO_RECORD, field_map, {"identity.name"})
    assert again.categories["identity.name"] is R and again.released_categories == ("identity.name",)


def test_released_sets_beyond_the_bound_start_the_decided_plans_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_CACHED_RELEASED_SETS", 3)
    field_map = demo_field_map()
    automaton = field_map._automaton
    for mask in range(16):
        released = {c for i, c in enumerate(sorted(field_map.categories)) if mask >> i & 1}
        filter_document(DEMO_RECORD, field_map, released)
        assert len(automaton._decided) <= 3


def test_categories_outside_the_map_share_the_plan_of_those_inside() -> None:
    field_map = demo_field_map()
    filter_document(DEMO_RECORD, field_map, {"identity.name"})
    filter_document(DEMO_RECORD, field_map, {"identity.name", "contact.email", "health.other"})
    assert list(field_map._automaton._decided) == [frozenset({"identity.name"})]


def test_reports_beyond_the_bound_start_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_CACHED_REPORTS", 2)
    field_map = FieldMap.of([(f"/k{i}", f"c.{i}") for i in range(6)])
    for i in range(6):
        result = filter_document({f"k{i}": i, f"k{(i + 1) % 6}": 0}, field_map, {"c.0", "c.1"})
        decided = field_map._automaton._decided[frozenset({"c.0", "c.1"})]
        assert len(decided.reports) <= 2
        assert set(result.categories) == {f"c.{i}", f"c.{(i + 1) % 6}"}


def test_ever_new_member_names_cannot_grow_the_views_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_CACHED_TRANSITIONS", 50)
    field_map = FieldMap.of([("/known", "c.a")])
    for released in ({"c.a"}, set()):
        result = filter_document({f"field-{i}": i for i in range(500)} | {"known": "kept"}, field_map, released)
        assert len(result.unmapped) == 500
    views = [v for d in field_map._automaton._decided.values() for v in d.views.values()]
    assert sum(len(v.members) + len(v.elements) for v in views) <= 50


def test_a_record_shape_seen_before_with_the_same_released_set_is_walked_from_the_views(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    field_map = FieldMap.of([("/a/b", "x"), ("$..c", "y"), ("$.e[*].c", "y"), ("$.e[-1]", "z")])
    document = {"a": {"b": 1, "c": 2}, "d": {"c": 3}, "e": [{"c": 4}, 5, [6]]}
    first = filter_document(document, field_map, {"x", "y"})
    computed: list[object] = []
    for name in ("member", "element"):
        work = getattr(fieldmap._Decided, name)
        monkeypatch.setattr(fieldmap._Decided, name, lambda *args, work=work: computed.append(args) or work(*args))
    assert filter_document(document, field_map, {"x", "y"}) == first
    assert computed == []


def test_concurrent_reads_through_one_field_map_each_get_their_own_result() -> None:
    """Reads in worker threads share the views (and the marks a walk leaves on them): no read sees another's."""
    field_map = demo_field_map()
    everything = sorted(field_map.categories)
    sets = [{c for i, c in enumerate(everything) if mask >> i & 1} for mask in range(2 ** len(everything))]
    expected = [outcome(lambda r=r: reference(DEMO_RECORD, field_map, r, 64)) for r in sets]
    mismatches: list[int] = []

    def read(offset: int) -> None:
        for n in range(200):
            k = (n + offset) % len(sets)
            if outcome(lambda k=k: filter_document(DEMO_RECORD, field_map, sets[k])) != expected[k]:
                mismatches.append(k)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, in the middle of walks
    try:
        threads = [threading.Thread(target=read, args=(offset,)) for offset in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert mismatches == []


class _PosingAsAName:
    """Not a string, though it hashes and compares like the member name a record shape has cached."""

    def __hash__(self) -> int:
        return hash("name")

    def __eq__(self, other: object) -> bool:
        return other == "name"


def test_a_key_that_only_compares_equal_to_a_cached_member_name_is_still_refused() -> None:
    field_map = FieldMap.of([("/name", "identity.name")])
    filter_document({"name": "Li"}, field_map, {"identity.name"})  # caches "name"
    with pytest.raises(InvalidDocument, match="member names must be strings"):
        filter_document({_PosingAsAName(): "Li"}, field_map, {"identity.name"})


def test_a_report_is_kept_only_for_a_document_with_few_kinds_of_leaf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fieldmap, "MAX_REPORTED_KINDS", 3)
    field_map = FieldMap.of([(f"/k{i}", f"c.{i}") for i in range(6)])
    released = {"c.0"}
    small = filter_document({"k0": 0, "k1": 1}, field_map, released)
    big = filter_document({f"k{i}": i for i in range(6)}, field_map, released)
    assert big.categories == {f"c.{i}": R if i == 0 else W for i in range(6)}
    assert big.released_categories == ("c.0",) and small.released_categories == ("c.0",)
    assert [len(kinds) for kinds in field_map._automaton._decided[frozenset(released)].reports] == [2]
