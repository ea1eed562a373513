"""Deny-by-default filtering of an upstream's JSON response by data category.

The gateway never forwards a value it cannot name. A field map is a list of mappings, each a selector
(an RFC 6901 JSON Pointer or a JSONPath of the subset in :mod:`gateway.upstream.selectors`) and the data
category of what it selects. Given the categories released for this client, subject and purpose:

1. **Leaves carry the data.** A leaf is a scalar (string, number, boolean, null) or an *empty* object or
   array. Non-empty objects and arrays are structure: they are kept exactly as far as they still hold a
   released leaf, and removed when filtering empties them (so withheld data does not leave its shape
   behind). The root is the exception: an object or array root is always returned, possibly empty.
2. **A leaf's categories** are those of every mapping that selects the leaf itself, plus those of every
   mapping marked ``subtree`` that selects one of its ancestors. A mapping without ``subtree`` that selects
   a non-empty object or array categorises nothing: releasing a whole subtree must be said explicitly,
   because an upstream that later adds a field under it would otherwise leak that field silently.
3. **Unmapped leaves are removed** (deny by default) and reported by their RFC 6901 pointer.
4. **Deny wins.** A leaf is released only when *all* its categories are released; one withheld category
   removes it. Overlapping mappings therefore can only narrow what is released, never widen it.
5. **Arrays filter element-wise**, at any nesting depth (arrays of objects, arrays of arrays): removed
   elements are dropped and the survivors keep their order, so indices in the output may shift.
6. The per-category status covers every category that categorised at least one leaf of this document:
   ``released`` when the category is in the released set, ``withheld`` otherwise.

Everything here is pure: plain JSON values in, plain JSON values out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.upstream.selectors import Selector, Step, format_pointer, parse_selector

__all__ = [
    "CategoryStatus",
    "DocumentTooDeep",
    "FieldMap",
    "FieldMapping",
    "FilterResult",
    "InvalidDocument",
    "filter_document",
]

DEFAULT_MAX_DEPTH = 64


class CategoryStatus(StrEnum):
    RELEASED = "released"
    WITHHELD = "withheld"


class InvalidDocument(ValueError):
    """The value to filter is not a JSON document (a non-string key, a set, bytes, a NaN from elsewhere…)."""


class DocumentTooDeep(InvalidDocument):
    """Nesting beyond the limit: refused rather than walked, so a hostile upstream cannot exhaust the stack."""


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One rule of a field map: what ``selector`` selects is data of ``category``."""

    selector: Selector
    category: str
    subtree: bool = False


@dataclass(frozen=True, slots=True)
class FieldMap:
    """An ordered, immutable list of mappings (order does not change the outcome: deny wins)."""

    mappings: tuple[FieldMapping, ...]
    _automaton: _Automaton = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_automaton", _Automaton(self.mappings))

    @classmethod
    def of(cls, rules: Iterable[tuple[str, str] | tuple[str, str, bool]]) -> FieldMap:
        """Compile ``(selector, category[, subtree])`` rules; a bad selector raises ``SelectorSyntaxError``."""
        mappings = []
        for rule in rules:
            subtree = bool(rule[2]) if len(rule) == 3 else False
            mappings.append(FieldMapping(parse_selector(rule[0]), rule[1], subtree))
        return cls(tuple(mappings))

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(m.category for m in self.mappings)


@dataclass(frozen=True, slots=True)
class FilterResult:
    """The filtered document and what the client needs to be told about what it does not see.

    ``document`` is ``None`` only when the root is a scalar that was not released.
    """

    document: Any
    categories: Mapping[str, CategoryStatus]
    unmapped: tuple[str, ...]
    released_leaves: int
    withheld_leaves: int

    @property
    def released_categories(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, s in self.categories.items() if s is CategoryStatus.RELEASED))

    @property
    def withheld_categories(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, s in self.categories.items() if s is CategoryStatus.WITHHELD))


_DROP = object()
_State = tuple[int, int]  # (mapping number, steps already matched)
_States = frozenset[_State]
# Bounds the memory a hostile upstream's ever-new member names can make the transition cache take: a full
# cache starts over (the record shapes that matter are back after one request), and long names are not kept.
MAX_CACHED_TRANSITIONS = 65_536
MAX_CACHED_NAME = 128


class _Automaton:
    """The selectors of one field map run as an NFA over all mappings at once, determinised lazily.

    A state set is a frozenset of (mapping, steps matched). Upstream records share their shape, so after the
    first few documents every member name maps to a known next set and a node costs one dict lookup instead
    of a pass over every live selector. The cache is shared by every request through this field map.
    """

    def __init__(self, mappings: tuple[FieldMapping, ...]) -> None:
        self.steps = [m.selector.steps for m in mappings]
        self.lengths = [len(steps) for steps in self.steps]
        self.categories = [m.category for m in mappings]
        self.subtree = [m.subtree for m in mappings]
        self.start: _States = frozenset((m, 0) for m in range(len(mappings)))
        self._transitions: dict[tuple[_States, str | int, int], _States] = {}
        self._matched: dict[_States, tuple[frozenset[str], frozenset[str]]] = {}
        self._size_sensitive: dict[_States, bool] = {}

    def matched(self, states: _States) -> tuple[frozenset[str], frozenset[str]]:
        """(categories of subtree mappings, categories of exact mappings) that end at this node."""
        found = self._matched.get(states)
        if found is None:
            subtree = frozenset(self.categories[m] for m, done in states if done == self.lengths[m] and self.subtree[m])
            exact = frozenset(
                self.categories[m] for m, done in states if done == self.lengths[m] and not self.subtree[m]
            )
            found = (subtree, exact)
            _remember(self._matched, states, found)
        return found

    def advance(self, states: _States, key: str | int, size: int) -> _States:
        if isinstance(key, int) and not self._depends_on_size(states):
            size = -1  # the answer is the same for every array length: cache it once
        if isinstance(key, str) and len(key) > MAX_CACHED_NAME:
            return self._step(states, key, size)  # too rare and too big to keep
        cache_key = (states, key, size if isinstance(key, int) else -1)
        nxt = self._transitions.get(cache_key)
        if nxt is None:
            nxt = self._step(states, key, size)
            _remember(self._transitions, cache_key, nxt)
        return nxt

    def _depends_on_size(self, states: _States) -> bool:
        sensitive = self._size_sensitive.get(states)
        if sensitive is None:
            sensitive = any(done < self.lengths[m] and _counts_from_end(self.steps[m][done]) for m, done in states)
            _remember(self._size_sensitive, states, sensitive)
        return sensitive

    def _step(self, states: _States, key: str | int, size: int) -> _States:
        nxt: set[_State] = set()
        for m, done in states:
            if done == self.lengths[m]:
                continue
            step = self.steps[m][done]
            if step.selects(key, size):
                nxt.add((m, done + 1))
            if step.descendant:
                nxt.add((m, done))
        return frozenset(nxt)


_Path = tuple[Any, ...]  # () for the root, else (parent path, member name or index): O(1) to extend


def _pointer(path: _Path) -> str:
    keys: list[str | int] = []
    while path:
        path, key = path
        keys.append(key)
    return format_pointer(tuple(reversed(keys)))


class _Walk:
    """One filtering pass over a document, driving the field map's automaton.

    This is the per-node loop of every proxied read, so it reads the automaton's caches directly and keeps
    a node's path as a linked pair, turned into a JSON Pointer only for what is reported or refused."""

    def __init__(self, automaton: _Automaton, released: frozenset[str], max_depth: int) -> None:
        self.automaton = automaton
        self.transitions = automaton._transitions
        self.matched = automaton._matched
        self.released = released
        self.max_depth = max_depth
        self.seen: set[str] = set()
        self.unmapped: list[str] = []
        self.released_leaves = 0
        self.withheld_leaves = 0

    def node(self, value: Any, path: _Path, depth: int, states: _States, inherited: frozenset[str]) -> Any:
        if depth > self.max_depth:
            raise DocumentTooDeep(f"document nests deeper than {self.max_depth} levels at {_pointer(path)!r}")
        found = self.matched.get(states)
        subtree, exact = found if found is not None else self.automaton.matched(states)
        own = inherited | subtree if subtree else inherited
        if isinstance(value, dict):
            if value:
                return self._object(value, path, depth, states, own)
        elif isinstance(value, list):
            if value:
                return self._array(value, path, depth, states, own)
        elif type(value) not in _PLAIN_SCALARS:
            _check_leaf(value, path)
        return self._leaf(value, path, own | exact if exact else own)

    def _leaf(self, value: Any, path: _Path, categories: frozenset[str]) -> Any:
        if not categories:
            self.unmapped.append(_pointer(path))
            return _DROP
        self.seen |= categories
        if categories <= self.released:
            self.released_leaves += 1
            return value
        self.withheld_leaves += 1
        return _DROP

    def _object(self, value: dict[Any, Any], path: _Path, depth: int, states: _States, own: frozenset[str]) -> Any:
        out: dict[str, Any] = {}
        transitions = self.transitions
        advance = self.automaton.advance
        node = self.node
        depth += 1
        for key, child in value.items():
            if not isinstance(key, str):
                raise InvalidDocument(f"object member names must be strings, found {key!r} at {_pointer(path)!r}")
            nxt = transitions.get((states, key, -1))  # the cache key `advance` files a member name under
            kept = node(child, (path, key), depth, nxt if nxt is not None else advance(states, key, 0), own)
            if kept is not _DROP:
                out[key] = kept
        return out if out else _DROP

    def _array(self, value: list[Any], path: _Path, depth: int, states: _States, own: frozenset[str]) -> Any:
        out = []
        size = len(value)
        advance = self.automaton.advance
        node = self.node
        depth += 1
        for index, child in enumerate(value):
            kept = node(child, (path, index), depth, advance(states, index, size), own)
            if kept is not _DROP:
                out.append(kept)
        return out if out else _DROP


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= MAX_CACHED_TRANSITIONS:
        cache.clear()
    cache[key] = value


def _counts_from_end(step: Step) -> bool:
    """A negative index (``[-1]``) selects a different element for every array length."""
    return step.kind == "index" and isinstance(step.value, int) and step.value < 0


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _check_leaf(value: Any, path: _Path) -> None:
    """For what `_Walk.node` could not place at a glance (containers, None and exact scalar types are placed)."""
    if isinstance(value, str | int):  # their subclasses, bool among them
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidDocument(f"NaN and infinities are not JSON, found one at {_pointer(path)!r}")
        return
    raise InvalidDocument(f"{type(value).__name__} is not a JSON value, found one at {_pointer(path)!r}")


def filter_document(
    document: Any, field_map: FieldMap, released: Collection[str], *, max_depth: int = DEFAULT_MAX_DEPTH
) -> FilterResult:
    """Keep exactly the leaves whose categories are all released; see the module docstring for the rules."""
    if isinstance(document, dict | list) and not document:
        # an empty root holds no data: nothing to release, withhold or report
        return FilterResult(type(document)(), {}, (), 0, 0)
    automaton = field_map._automaton
    walk = _Walk(automaton, frozenset(released), max_depth)
    filtered = walk.node(document, (), 0, automaton.start, frozenset())
    if filtered is _DROP:
        filtered = {} if isinstance(document, dict) else [] if isinstance(document, list) else None
    statuses = {
        c: CategoryStatus.RELEASED if c in walk.released else CategoryStatus.WITHHELD for c in sorted(walk.seen)
    }
    return FilterResult(filtered, statuses, tuple(walk.unmapped), walk.released_leaves, walk.withheld_leaves)
