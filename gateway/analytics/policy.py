"""The budget a recipient's aggregates draw on: from the matrix rules that allow `aggregate` for its role, the
purpose and each category the statistic reads.

The matrix decides per customer whether a value counts (`cohort`); the budget belongs to the query, so it comes
from the allow rules that could admit anyone at all. When several apply (one per category read, or rules for
different customer types), the smallest budget binds: a query never spends more than any rule that admits it.
"""

from __future__ import annotations

from collections.abc import Sequence

from policies import MatrixRule, PrivacyBudget, Taxonomy

__all__ = ["aggregate_budget"]

_ANY = "*"  # the matrix's wildcard


def _covers(ruled: str, value: str) -> bool:
    return ruled in (_ANY, value)


def aggregate_budget(
    taxonomy: Taxonomy, rules: Sequence[MatrixRule], role: str, purpose: str, categories: Sequence[str]
) -> PrivacyBudget | None:
    """The binding budget, or None when some category has no allow rule with a budget for aggregates."""
    chosen: PrivacyBudget | None = None
    for category in categories:
        lineage = taxonomy.lineage(category)
        found = [
            rule.budget
            for rule in rules
            if rule.allows_aggregate
            and rule.budget is not None
            and _covers(rule.role, role)
            and _covers(rule.purpose, purpose)
            and (rule.category == _ANY or rule.category in lineage)
        ]
        if not found:
            return None
        smallest = min(found, key=lambda b: b.epsilon)
        if chosen is None or smallest.epsilon < chosen.epsilon:
            chosen = smallest
    return chosen
