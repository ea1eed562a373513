"""Casbin evaluates the matrix; an index hands it only the rules that could match one request.

The stock enforcer scans every rule on every request. Here each rule is filed under its exact
(role, customer type, category, purpose) — wildcards and parent categories included — so one request looks up at
most 2 x 2 x (depth + 1) x 2 buckets and Casbin's own `enforce_ex` runs its matcher and effect over that short list.
The list is per thread (a thread-local view of the policy), so concurrent decisions never see each other's rules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin

from policies.matrix import ANY, Effect, MatrixRule, rule_from_row

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


# CPython 3.11 can corrupt `ast.parse` run concurrently in two threads ("AST constructor recursion depth
# mismatch"); stock Casbin parses the matcher on every request, so parses are serialised here and done once.
_PARSE_LOCK = threading.Lock()


class _ParsedOnceEnforcer(casbin.Enforcer):  # type: ignore[misc]
    """Stock Casbin, except that each thread parses the matcher once and keeps its own evaluator
    (a SimpleEval object holds per-evaluation state, so one may not be shared between threads)."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._evaluators = threading.local()

    def _get_expression(self, expr: str, functions: Any = None) -> Any:
        cache: dict[str, Any] | None = getattr(self._evaluators, "cache", None)
        if cache is None:
            cache = self._evaluators.cache = {}
        evaluator = cache.get(expr)
        if evaluator is None:
            with _PARSE_LOCK:
                evaluator = casbin.Enforcer._get_expression(expr, functions)
            cache[expr] = evaluator
        return evaluator


def new_casbin_enforcer(*, stock: bool = True) -> casbin.Enforcer:
    """A Casbin enforcer on model.conf with the matcher functions registered (no rules loaded).

    `stock=False` gives the thread-safe variant that parses the matcher once per thread.
    """
    enforcer = casbin.Enforcer(str(MODEL_PATH)) if stock else _ParsedOnceEnforcer(str(MODEL_PATH))
    enforcer.add_function("categoryMatch", category_match)
    enforcer.add_function("modeMatch", mode_match)
    return enforcer


class _ThreadView:
    """Stands in for Casbin's policy list; iterating yields only the current thread's candidate rules."""

    def __init__(self) -> None:
        self._local = threading.local()

    def use(self, rows: Sequence[Sequence[str]]) -> None:
        self._local.rows = rows

    def _rows(self) -> Sequence[Sequence[str]]:
        return getattr(self._local, "rows", ())

    def __iter__(self) -> Iterator[Sequence[str]]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def __getitem__(self, index: int) -> Sequence[str]:
        return self._rows()[index]


@dataclass(frozen=True)
class MatrixOutcome:
    """The matrix's answer for one category: `reason` is `matrix_allow`, `matrix_deny` or `no_matching_rule`."""

    allowed: bool
    reason: str
    rule: MatrixRule | None


def _specificity(row: Sequence[str]) -> tuple[int, int]:
    role, ctype, cat, purpose = row[:4]
    exact = sum(v != ANY for v in (role, ctype, cat, purpose))
    return (-exact, -(cat.count(".") + 1 if cat != ANY else 0))


class IndexedEnforcer:
    """An immutable, thread-safe evaluator of one matrix version."""

    def __init__(self, rules: Sequence[MatrixRule]) -> None:
        self.rule_count = len(rules)
        buckets: dict[tuple[str, str, str, str], list[list[str]]] = {}
        for rule in rules:
            key = (rule.role, rule.customer_type, rule.category, rule.purpose)
            buckets.setdefault(key, []).append(rule.casbin_row())
        self._buckets = {k: tuple(v) for k, v in buckets.items()}
        self._enforcer = new_casbin_enforcer(stock=False)
        self._view = _ThreadView()
        self._enforcer.get_model()["p"]["p"].policy = self._view

    def candidates(self, role: str, ctype: str, lineage: Sequence[str], purpose: str) -> list[Sequence[str]]:
        """Every rule that could match: deny rules first, then the most specific first."""
        found: list[Sequence[str]] = []
        buckets = self._buckets
        for r in (role, ANY):
            for t in (ctype, ANY):
                for c in (*lineage, ANY):
                    for p in (purpose, ANY):
                        rows = buckets.get((r, t, c, p))
                        if rows:
                            found.extend(rows)
        found.sort(key=lambda row: (row[5] != Effect.DENY, *_specificity(row)))
        return found

    def evaluate(self, role: str, ctype: str, lineage: Sequence[str], purpose: str, mode: str) -> MatrixOutcome:
        rows = self.candidates(role, ctype, lineage, purpose)
        request = (role, ctype, lineage[0], purpose, mode)
        self._view.use(rows)
        try:
            allowed, explain = self._enforcer.enforce_ex(*request)
            if allowed:
                # The allow-and-deny effect never stops at an allow, so ask Casbin rule by rule which one allowed.
                for row in rows:
                    if row[5] == Effect.ALLOW:
                        self._view.use((row,))
                        if self._enforcer.enforce_ex(*request)[0]:
                            return MatrixOutcome(True, "matrix_allow", rule_from_row(row))
                raise AssertionError("Casbin allowed without a matching allow rule")
        finally:
            self._view.use(())
        if explain:
            return MatrixOutcome(False, "matrix_deny", rule_from_row(explain))
        return MatrixOutcome(False, "no_matching_rule", None)
