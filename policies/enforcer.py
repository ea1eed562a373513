"""The matrix's evaluator: Casbin's model file declares the policy language, and an index applies it directly.

`model.conf` is the declaration: a request (role, customer type, category, purpose, mode), rows of the same shape
with an effect, the matcher, and the effect "some allow matches and no deny matches". Any stock Casbin enforcer
loads it with the rows (`new_casbin_enforcer`), and the tests hold this evaluator to that enforcer's answers.

Here each rule is filed under its exact (role, customer type, category, purpose) — wildcards and parent categories
included — so one request visits at most 2 x 2 x (depth + 1) x 2 buckets instead of scanning every rule, and the
matcher runs over those few rules only. Deny rules are consulted first and the most specific matching rule is
cited, so a decision always names the rule that decided it. Evaluators are immutable, so threads share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class _Bucket:
    """The rules of one exact scope, denies and allows apart, in matrix order; `rank` orders buckets by
    specificity (more exact fields first, then the deeper category)."""

    rank: tuple[int, int]
    denies: tuple[MatrixRule, ...]
    allows: tuple[MatrixRule, ...]


def _rank(key: _BucketKey) -> tuple[int, int]:
    category = key[2]
    exact = sum(value != ANY for value in key)
    return (-exact, -(category.count(".") + 1 if category != ANY else 0))


def _first_match(rules: Sequence[MatrixRule], mode: str) -> MatrixRule | None:
    return next((rule for rule in rules if mode_match(mode, rule.mode, rule.effect)), None)


class IndexedEnforcer:
    """An immutable, thread-safe evaluator of one matrix version."""

    def __init__(self, rules: Sequence[MatrixRule]) -> None:
        self.rule_count = len(rules)
        grouped: dict[_BucketKey, tuple[list[MatrixRule], list[MatrixRule]]] = {}
        for rule in rules:
            denies, allows = grouped.setdefault((rule.role, rule.customer_type, rule.category, rule.purpose), ([], []))
            (denies if rule.effect == Effect.DENY else allows).append(rule)
        self._buckets = {key: _Bucket(_rank(key), tuple(d), tuple(a)) for key, (d, a) in grouped.items()}

    def _visited(self, role: str, ctype: str, lineage: Sequence[str], purpose: str) -> list[_Bucket]:
        """The buckets whose rules pass the matcher's role, customer type, category and purpose tests, in the
        order they are consulted; a rule in any other bucket cannot match."""
        found = []
        seen: set[_BucketKey] = set()
        buckets = self._buckets
        for r in (role, ANY):
            for t in (ctype, ANY):
                for c in (*lineage, ANY):
                    if not category_match(lineage[0], c):
                        continue
                    for p in (purpose, ANY):
                        key = (r, t, c, p)
                        bucket = buckets.get(key)
                        if bucket is not None and key not in seen:
                            seen.add(key)
                            found.append(bucket)
        return found

    def evaluate(self, role: str, ctype: str, lineage: Sequence[str], purpose: str, mode: str) -> MatrixOutcome:
        """model.conf's effect over the candidates: a matching deny decides (the most specific one is cited),
        otherwise the most specific matching allow, otherwise nothing matched and the answer is no."""
        visited = self._visited(role, ctype, lineage, purpose)
        deny = self._most_specific(visited, mode, denies=True)
        if deny is not None:
            return MatrixOutcome(False, "matrix_deny", deny)
        allow = self._most_specific(visited, mode, denies=False)
        if allow is not None:
            return MatrixOutcome(True, "matrix_allow", allow)
        return MatrixOutcome(False, "no_matching_rule", None)

    @staticmethod
    def _most_specific(visited: Sequence[_Bucket], mode: str, *, denies: bool) -> MatrixRule | None:
        best: MatrixRule | None = None
        best_rank = (1, 1)
        for bucket in visited:
            if bucket.rank >= best_rank:
                continue
            rule = _first_match(bucket.denies if denies else bucket.allows, mode)
            if rule is not None:
                best, best_rank = rule, bucket.rank
        return best
