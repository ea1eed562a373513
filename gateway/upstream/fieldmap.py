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
from math import isfinite
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
    _categories: tuple[str, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_automaton", _Automaton(self.mappings))
        object.__setattr__(self, "_categories", tuple(sorted({m.category for m in self.mappings})))

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
        return frozenset(self._categories)

    @property
    def sorted_categories(self) -> tuple[str, ...]:
        """The categories in order, as every decision over this map asks for them (sorted once, not per read)."""
        return self._categories


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
    # read two or three times per proxied read (the response, the ledger entry): worked out once, or handed
    # in by `filter_document`, which keeps it for the documents that show the same categories
    _released: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._released:
            released = tuple(sorted([c for c, s in self.categories.items() if s is _RELEASED]))
            object.__setattr__(self, "_released", released)

    @property
    def released_categories(self) -> tuple[str, ...]:
        return self._released

    @property
    def withheld_categories(self) -> tuple[str, ...]:
        return tuple(sorted(c for c, s in self.categories.items() if s is CategoryStatus.WITHHELD))


_RELEASED, _WITHHELD = CategoryStatus.RELEASED, CategoryStatus.WITHHELD  # an enum member's lookup is slow


_DROP = object()
_State = tuple[int, int]  # (mapping number, steps already matched)
_States = frozenset[_State]
# Bounds the memory a hostile upstream's ever-new member names can make the transition cache (the nodes' and
# the views') take: a full cache starts over (the record shapes that matter are back after one request), and
# long names are not kept.
MAX_CACHED_TRANSITIONS = 65_536
MAX_CACHED_NAME = 128
# Released sets (as far as this map's categories go) whose decided plans are kept: a client's purposes and its
# subjects' consents make a handful; more start the cache over rather than grow it.
MAX_CACHED_RELEASED_SETS = 32
# Per released set, the reports kept for the sets of leaf kinds documents showed (one per record shape, mostly),
# and only for sets this small: a report costs its key's size, and a rare big document can work its own out.
MAX_CACHED_REPORTS = 64
MAX_REPORTED_KINDS = 256


class _Node:
    """One state set of the automaton, precompiled into what the walk needs at a node: the categories a leaf
    here takes from mappings that end here (`exact`), those its descendants inherit (`subtree`), and the nodes
    its members and elements lead to, filled in as documents show them. Together the nodes are the field map's
    filter plan, shared by every released set; `_View`s decide it for one."""

    __slots__ = ("elements", "exact", "members", "size_sensitive", "states", "subtree")

    def __init__(self, states: _States, subtree: frozenset[str], exact: frozenset[str], size_sensitive: bool) -> None:
        self.states = states
        self.subtree = subtree
        self.exact = exact
        self.size_sensitive = size_sensitive
        self.members: dict[str, _Node] = {}
        self.elements: dict[int | tuple[int, int], _Node] = {}


class _View:
    """A node as reached with the categories inherited from its ancestors' ``subtree`` mappings, decided for
    one released set: what a leaf here is (`leaf`) and whether it goes out (`released`) are worked out once,
    so after the first record of a shape a leaf costs the walk one dict lookup and a flag."""

    __slots__ = ("elements", "leaf", "members", "node", "own", "released", "sized", "walk")

    def __init__(self, node: _Node, own: frozenset[str], leaf: frozenset[str], released: bool) -> None:
        self.node = node
        self.own = own  # what the members and elements inherit
        self.leaf = leaf
        self.released = released
        self.sized = node.size_sensitive
        self.walk: object = None  # the mark of the last walk to count a leaf here among those it met
        self.members: dict[str, _View] = {}
        self.elements: dict[int | tuple[int, int], _View] = {}


class _Automaton:
    """The selectors of one field map run as an NFA over all mappings at once, determinised lazily into `_Node`s.

    A state set is a frozenset of (mapping, steps matched); each set met is one node, shared by every request
    through this field map. Upstream records share their shape, so after the first few documents every member
    name maps to a known next node instead of a pass over every live selector.
    """

    def __init__(self, mappings: tuple[FieldMapping, ...]) -> None:
        self.steps = [m.selector.steps for m in mappings]
        self.lengths = [len(steps) for steps in self.steps]
        self.categories = [m.category for m in mappings]
        self.subtree = [m.subtree for m in mappings]
        self.mapped = frozenset(self.categories)
        self._initial: _States = frozenset((m, 0) for m in range(len(mappings)))
        self._start_over()

    def _start_over(self) -> None:
        self._nodes: dict[_States, _Node] = {}
        self._decided: dict[frozenset[str], _Decided] = {}
        self.cached = 0  # transitions kept by the nodes and views of this generation
        self.start = self._node(self._initial)

    def decided(self, released: Iterable[str]) -> _Decided:
        """The plan decided for ``released``; categories this map does not name cannot change a verdict."""
        key = self.mapped.intersection(released)
        found = self._decided.get(key)
        if found is None:
            if len(self._decided) >= MAX_CACHED_RELEASED_SETS:
                self._decided = {}
            found = self._decided[key] = _Decided(self, key)
        return found

    def _node(self, states: _States) -> _Node:
        found = self._nodes.get(states)
        if found is None:
            ended = [m for m, done in states if done == self.lengths[m]]
            found = _Node(
                states,
                frozenset(self.categories[m] for m in ended if self.subtree[m]),
                frozenset(self.categories[m] for m in ended if not self.subtree[m]),
                any(done < self.lengths[m] and _counts_from_end(self.steps[m][done]) for m, done in states),
            )
            self._nodes[states] = found
        return found

    def _count_one(self) -> None:
        """Count one more cached transition; a full cache starts over (a new generation of nodes)."""
        if self.cached >= MAX_CACHED_TRANSITIONS:
            self._start_over()
        self.cached += 1

    def member(self, node: _Node, key: str) -> _Node:
        nxt = self._node(self._step(node.states, key, 0))
        if len(key) <= MAX_CACHED_NAME:  # a longer name is too rare and too big to keep
            self._count_one()
            node.members[key] = nxt
        return nxt

    def element(self, node: _Node, index: int, size: int) -> _Node:
        cache_key: int | tuple[int, int] = (index, size) if node.size_sensitive else index
        nxt = node.elements.get(cache_key)
        if nxt is None:
            nxt = self._node(self._step(node.states, index, size))
            self._count_one()
            node.elements[cache_key] = nxt
        return nxt

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


class _Decided:
    """The filter plan decided for one released set: its `_View`s, one per node and inherited categories (the
    elements of an array of records share theirs), linked as documents show them, like the nodes."""

    __slots__ = ("automaton", "released", "reports", "root", "views")

    def __init__(self, automaton: _Automaton, released: frozenset[str]) -> None:
        self.automaton = automaton
        self.released = released
        self.views: dict[tuple[_Node, frozenset[str]], _View] = {}
        self.reports: dict[frozenset[_View], tuple[dict[str, CategoryStatus], tuple[str, ...]]] = {}
        self.root = self.view(automaton.start, _NOTHING)

    def report(self, seen: list[_View]) -> tuple[dict[str, CategoryStatus], tuple[str, ...]]:
        """The status of every category of the mapped leaves met, and the released ones in order."""
        key = frozenset(seen)
        found = self.reports.get(key)
        if found is None:
            categories = sorted(set[str]().union(*[view.leaf for view in key]))
            released = self.released
            statuses = {c: _RELEASED if c in released else _WITHHELD for c in categories}
            found = (statuses, tuple(c for c in categories if c in released))
            if len(key) <= MAX_REPORTED_KINDS:
                if len(self.reports) >= MAX_CACHED_REPORTS:
                    self.reports = {}
                self.reports[key] = found
        return found

    def view(self, node: _Node, inherited: frozenset[str]) -> _View:
        found = self.views.get((node, inherited))
        if found is None:
            own = inherited | node.subtree
            leaf = own | node.exact
            found = self.views[node, inherited] = _View(node, own, leaf, bool(leaf) and leaf <= self.released)
        return found

    def member(self, view: _View, key: str) -> _View:
        node = view.node
        nxt = node.members.get(key)
        if nxt is None:
            nxt = self.automaton.member(node, key)
        found = self.view(nxt, view.own)
        if len(key) <= MAX_CACHED_NAME:
            self.automaton._count_one()
            view.members[key] = found
        return found

    def element(self, view: _View, index: int, size: int) -> _View:
        found = self.view(self.automaton.element(view.node, index, size), view.own)
        self.automaton._count_one()
        view.elements[(index, size) if view.sized else index] = found
        return found


_Path = tuple[Any, ...]  # () for the root, else (parent path, member name or index): O(1) to extend


def _pointer(path: _Path) -> str:
    keys: list[str | int] = []
    while path:
        path, key = path
        keys.append(key)
    return format_pointer(tuple(reversed(keys)))


class _Walk:
    """One filtering pass over a document, following the views decided for its released set.

    This is the per-node loop of every proxied read: a container's plain scalars and non-empty plain
    containers (nearly every node) are placed right in the container's loop, a scalar by its view's flags,
    and a path is built only for a container, as a linked pair turned into a JSON Pointer only for what is
    reported or refused."""

    def __init__(self, decided: _Decided, max_depth: int) -> None:
        self.decided = decided
        self.max_depth = max_depth
        self.seen: list[_View] = []  # of the mapped leaves met: their categories are the ones to report
        # Marks a view as in `seen` already, so a leaf costs no set insertion. Only this walk leaves this mark,
        # right before it appends the view: a concurrent walk's mark over it can make this one append a view
        # twice, never miss one.
        self.token = object()
        self.unmapped: list[str] = []
        self.released_leaves = 0
        self.withheld_leaves = 0

    def node(self, value: Any, path: _Path, depth: int, view: _View) -> Any:
        """The root, and what a container's loop does not place itself: empty containers, subclasses, errors."""
        if depth > self.max_depth:
            raise self._too_deep(path)
        if isinstance(value, dict):
            if value:
                return self._object(value, path, depth, view)
        elif isinstance(value, list):
            if value:
                return self._array(value, path, depth, view)
        elif type(value) not in _PLAIN_SCALARS:
            _check_leaf(value, path)
        if view.released:
            self.seen.append(view)
            self.released_leaves += 1
            return value
        if view.leaf:
            self.seen.append(view)
            self.withheld_leaves += 1
        else:
            self.unmapped.append(_pointer(path))
        return _DROP

    def _too_deep(self, path: _Path) -> DocumentTooDeep:
        return DocumentTooDeep(f"document nests deeper than {self.max_depth} levels at {_pointer(path)!r}")

    def _object(self, value: dict[Any, Any], path: _Path, depth: int, view: _View) -> Any:
        depth += 1
        if depth > self.max_depth:  # the first member is refused, once its name is found to be one
            key = next(iter(value))
            if not isinstance(key, str):
                raise InvalidDocument(f"object member names must be strings, found {key!r} at {_pointer(path)!r}")
            raise self._too_deep((path, key))
        out: dict[str, Any] = {}
        members = view.members
        token = self.token
        released = withheld = 0
        for key, child in value.items():
            nxt = members.get(key) if type(key) is str else None
            if nxt is None:
                if not isinstance(key, str):
                    raise InvalidDocument(f"object member names must be strings, found {key!r} at {_pointer(path)!r}")
                nxt = self.decided.member(view, key)
            kind = type(child)
            if kind in _INLINE_SCALARS:
                if kind is float and not isfinite(child):
                    _check_leaf(child, (path, key))
                if nxt.released:
                    out[key] = child
                    released += 1
                elif nxt.leaf:
                    withheld += 1
                else:
                    self.unmapped.append(_pointer((path, key)))
                    continue
                if nxt.walk is not token:
                    nxt.walk = token
                    self.seen.append(nxt)
                continue
            if kind is dict and child:
                kept = self._object(child, (path, key), depth, nxt)
            elif kind is list and child:
                kept = self._array(child, (path, key), depth, nxt)
            else:
                kept = self.node(child, (path, key), depth, nxt)
            if kept is not _DROP:
                out[key] = kept
        if released:
            self.released_leaves += released
        if withheld:
            self.withheld_leaves += withheld
        return out if out else _DROP

    def _array(self, value: list[Any], path: _Path, depth: int, view: _View) -> Any:
        depth += 1
        size = len(value)
        if depth > self.max_depth:
            raise self._too_deep((path, 0))
        out = []
        elements = view.elements
        token = self.token
        sized = view.sized
        released = withheld = 0
        for index, child in enumerate(value):
            nxt = elements.get((index, size) if sized else index)
            if nxt is None:
                nxt = self.decided.element(view, index, size)
            kind = type(child)
            if kind in _INLINE_SCALARS:
                if kind is float and not isfinite(child):
                    _check_leaf(child, (path, index))
                if nxt.released:
                    out.append(child)
                    released += 1
                elif nxt.leaf:
                    withheld += 1
                else:
                    self.unmapped.append(_pointer((path, index)))
                    continue
                if nxt.walk is not token:
                    nxt.walk = token
                    self.seen.append(nxt)
                continue
            if kind is dict and child:
                kept = self._object(child, (path, index), depth, nxt)
            elif kind is list and child:
                kept = self._array(child, (path, index), depth, nxt)
            else:
                kept = self.node(child, (path, index), depth, nxt)
            if kept is not _DROP:
                out.append(kept)
        if released:
            self.released_leaves += released
        if withheld:
            self.withheld_leaves += withheld
        return out if out else _DROP


def _counts_from_end(step: Step) -> bool:
    """A negative index (``[-1]``) selects a different element for every array length."""
    return step.kind == "index" and isinstance(step.value, int) and step.value < 0


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_INLINE_SCALARS = _PLAIN_SCALARS | {float}  # placed in their container's loop (a float once checked finite)
_NOTHING: frozenset[str] = frozenset()


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
    decided = field_map._automaton.decided(released)
    walk = _Walk(decided, max_depth)
    filtered = walk.node(document, (), 0, decided.root)
    if filtered is _DROP:
        filtered = {} if isinstance(document, dict) else [] if isinstance(document, list) else None
    statuses, released_categories = decided.report(walk.seen)
    return FilterResult(
        filtered,
        dict(statuses),  # the caller's own: the kept one is shared
        tuple(walk.unmapped),
        walk.released_leaves,
        walk.withheld_leaves,
        released_categories,
    )
