"""Every flow the matrix allows: role x customer type x category x purpose x mode, with the rule that allows it.

The compliance checker, the impact overview and the agreement all reason about these flows, computed by the same
evaluator that decides live requests, so what they report is what the gateway enforces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.enforcer import IndexedEnforcer
from policies.matrix import MatrixRule, Mode
from policies.taxonomy import Taxonomy


@dataclass(frozen=True)
class Flow:
    role: str
    customer_type: str
    category: str
    purpose: str
    mode: str
    rule: str


def allowed_flows(taxonomy: Taxonomy, rules: Sequence[MatrixRule]) -> list[Flow]:
    enforcer = IndexedEnforcer(rules)
    flows = []
    for role in taxonomy.roles:
        for ctype in taxonomy.customer_types:
            for purpose in taxonomy.purposes:
                for category in taxonomy.categories:
                    lineage = taxonomy.lineage(category)
                    for mode in (Mode.RELEASE.value, Mode.PREDICATE.value):
                        outcome = enforcer.evaluate(role, ctype, lineage, purpose, mode)
                        if outcome.allowed and outcome.rule is not None:
                            flows.append(Flow(role, ctype, category, purpose, mode, outcome.rule.id))
                            break  # release implies predicate: report the widest mode only
                    # nothing implies aggregates, so they are a flow of their own beside a release
                    outcome = enforcer.evaluate(role, ctype, lineage, purpose, Mode.AGGREGATE.value)
                    if outcome.allowed and outcome.rule is not None:
                        flows.append(Flow(role, ctype, category, purpose, Mode.AGGREGATE.value, outcome.rule.id))
    return flows
