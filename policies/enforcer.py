"""The matrix's evaluator: Casbin's model file declares the policy language, and an index applies it directly.

`model.conf` is the declaration: a request (role, customer type, category, purpose, mode), rows of the same shape
with an effect, the matcher, and the effect "some allow matches and no deny matches". Any stock Casbin enforcer
loads it with the rows (`new_casbin_enforcer`), and the tests hold this evaluator to that enforcer's answers.

Here each rule is filed under its exact (role, customer type, category, purpose) — wildcards and parent categories
included — so one request visits at most 2 x 2 x 2 x (depth + 1) buckets instead of scanning every rule (a level
of the index holding neither the asked value nor `*` prunes everything beneath it), and each bucket knows its first
matching deny and allow per mode from the moment the matrix is loaded. A matching deny decides and the most specific
matching rule is cited, so a decision always names the rule that decided it. Evaluators are immutable, so threads
share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import casbin

from policies.matrix import ANY, Effect, MatrixRule

MODEL_PATH = Path(__file__).parent / "model.conf"


def category_match(requested: str, ruled: str) -> bool:
    """A rule on a parent category (e.g. `vehicle`) covers its children (`vehicle.vin`)."""
    return ruled == ANY or requested == ruled or requested.startswith(ruled + ".")


# How much of the value a mode discloses: a denial of one mode denies every mode that discloses more.
_DISCLOSURE = {"aggregate": 0, "predicate": 1, "release": 2}


def mode_match(requested: str, ruled: str, effect: str) -> bool:
    """Allowing release implies allowing a predicate about the value (never an aggregate: see `Mode`);
    forbidding aggregates forbids predicates and release, forbidding predicates forbids release."""
    if ruled in (ANY, requested):
        return True
    if effect == Effect.ALLOW:
        return ruled == "release" and requested == "predicate"
    return effect == Effect.DENY and _DISCLOSURE.get(requested, -1) > _DISCLOSURE.get(ruled, 3)


def new_casbin_enforcer() -> casbin.Enforcer:
    """A stock Casbin enforcer on model.conf with the matcher's functions registered and no rules loaded: load a
    matrix with `add_policies(rule.casbin_row() for rule in rules)` to check it with Casbin itself."""
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    enforcer.add_function("categoryMatch", category_match)
    enforcer.add_function("modeMatch", mode_match)
    return enforcer


@dataclass(frozen=True)
class MatrixOutcome:
    """The matrix's answer for one category: `reason` is `matrix_allow`, `matrix_deny` or `no_matching_rule`."""

    allowed: bool
    reason: str
    rule: MatrixRule | None


_BucketKey = tuple[str, str, str, str]
# The modes whose first matching deny and allow each bucket keeps at hand (a decision asks one of these).
_KNOWN_MODES = tuple(_DISCLOSURE)


@dataclass(frozen=True, slots=True)
class _Bucket:
    """The rules of one exact scope, denies and allows apart, in matrix order; `rank` orders buckets by
    specificity (more exact fields first, then the deeper category). `first` maps each known mode to the first
    deny and the first allow of the bucket that match it, found once when the matrix is loaded rather than on
    every decision."""

    rank: tuple[int, int]
    denies: tuple[MatrixRule, ...]
    allows: tuple[MatrixRule, ...]
    first: dict[str, tuple[MatrixRule | None, MatrixRule | None]]

    def matching(self, mode: str) -> tuple[MatrixRule | None, MatrixRule | None]:
        found = self.first.get(mode)
        if found is None:
            found = (_first_match(self.denies, mode), _first_match(self.allows, mode))
        return found


def _rank(key: _BucketKey) -> tuple[int, int]:
    category = key[2]
    exact = sum(value != ANY for value in key)
    return (-exact, -(category.count(".") + 1 if category != ANY else 0))


def _first_match(rules: Sequence[MatrixRule], mode: str) -> MatrixRule | None:
    return next((rule for rule in rules if mode_match(mode, rule.mode, rule.effect)), None)


def _bucket(key: _BucketKey, denies: tuple[MatrixRule, ...], allows: tuple[MatrixRule, ...]) -> _Bucket:
    firsts: dict[tuple[MatrixRule | None, MatrixRule | None], tuple[MatrixRule | None, MatrixRule | None]] = {}
    first = {}
    for mode in _KNOWN_MODES:
        pair = (_first_match(denies, mode), _first_match(allows, mode))
        first[mode] = firsts.setdefault(pair, pair)  # most buckets answer every mode alike: share the pair
    return _Bucket(_rank(key), denies, allows, first)


# role -> customer type -> purpose -> category -> bucket: each level is looked up with the request's value and `*`,
# so a level with neither prunes everything beneath it (most roles have no `*`-role rules to visit).
_Index = dict[str, dict[str, dict[str, dict[str, _Bucket]]]]


class IndexedEnforcer:
    """An immutable, thread-safe evaluator of one matrix version."""

    def __init__(self, rules: Sequence[MatrixRule]) -> None:
        self.rule_count = len(rules)
        grouped: dict[_BucketKey, tuple[list[MatrixRule], list[MatrixRule]]] = {}
        for rule in rules:
            denies, allows = grouped.setdefault((rule.role, rule.customer_type, rule.category, rule.purpose), ([], []))
            (denies if rule.effect == Effect.DENY else allows).append(rule)
        index: _Index = {}
        for key, (d, a) in grouped.items():
            role, ctype, category, purpose = key
            index.setdefault(role, {}).setdefault(ctype, {}).setdefault(purpose, {})[category] = _bucket(
                key, tuple(d), tuple(a)
            )
        self._index = index

    def evaluate(self, role: str, ctype: str, lineage: Sequence[str], purpose: str, mode: str) -> MatrixOutcome:
        """model.conf's effect over the buckets whose rules pass the matcher's role, customer type, category and
        purpose tests (a rule in any other bucket cannot match): a matching deny decides (the most specific one is
        cited), otherwise the most specific matching allow, otherwise nothing matched and the answer is no.

        Buckets are consulted role by role, then customer type by customer type, exact before `*`, and of equally
        specific buckets the first consulted is cited. Within one role and customer type every bucket has a rank of
        its own (a category's depth and an exact purpose each change it), so there the order never decides a tie."""
        categories = [c for c in (*lineage, ANY) if category_match(lineage[0], c)]
        deny: MatrixRule | None = None
        allow: MatrixRule | None = None
        deny_rank = allow_rank = (1, 1)
        for by_ctype in _at(self._index, role):
            for by_purpose in _at(by_ctype, ctype):
                for by_category in _at(by_purpose, purpose):
                    for c in categories:
                        bucket = by_category.get(c)
                        if bucket is None:
                            continue
                        rank = bucket.rank
                        if rank >= deny_rank and rank >= allow_rank:
                            continue
                        first_deny, first_allow = bucket.matching(mode)
                        if first_deny is not None and rank < deny_rank:
                            deny, deny_rank = first_deny, rank
                        if first_allow is not None and rank < allow_rank:
                            allow, allow_rank = first_allow, rank
        if deny is not None:
            return MatrixOutcome(False, "matrix_deny", deny)
        if allow is not None:
            return MatrixOutcome(True, "matrix_allow", allow)
        return _NO_MATCH


_NO_MATCH = MatrixOutcome(False, "no_matching_rule", None)
_T = TypeVar("_T")


def _at(level: dict[str, _T], value: str) -> list[_T]:
    """The entries filed under `value` and under `*` (once when `value` is `*`), in that order."""
    exact = level.get(value)
    wildcard = level.get(ANY) if value != ANY else None
    if exact is None:
        return [] if wildcard is None else [wildcard]
    return [exact] if wildcard is None else [exact, wildcard]
