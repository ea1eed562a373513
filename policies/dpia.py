"""A data-protection impact overview: which high-risk categories flow to which recipients, for which purposes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.flows import allowed_flows
from policies.matrix import MatrixRule
from policies.taxonomy import Taxonomy


@dataclass(frozen=True)
class RiskFlow:
    category: str
    sensitivity: str
    recipient: str
    recipient_jurisdiction: str
    purpose: str
    mode: str
    customer_types: tuple[str, ...]
    legal_basis: dict[str, str]
    rule: str


def impact_overview(taxonomy: Taxonomy, rules: Sequence[MatrixRule]) -> list[RiskFlow]:
    """High-risk means flagged `high_risk` or sensitive (PIPL Art. 28 / GDPR Art. 9) in the taxonomy."""
    grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
    for f in allowed_flows(taxonomy, rules):
        cat = taxonomy.categories[f.category]
        if cat.high_risk or cat.sensitive:
            grouped.setdefault((f.category, f.role, f.purpose, f.mode, f.rule), []).append(f.customer_type)
    out = []
    for (category, role, purpose, mode, rule), ctypes in sorted(grouped.items()):
        for recipient in taxonomy.recipients.values():
            if recipient.role != role:
                continue
            out.append(
                RiskFlow(
                    category=category,
                    sensitivity=taxonomy.categories[category].sensitivity.value,
                    recipient=recipient.id,
                    recipient_jurisdiction=recipient.jurisdiction,
                    purpose=purpose,
                    mode=mode,
                    customer_types=tuple(ctypes),
                    legal_basis={j: b.value for j, b in taxonomy.purposes[purpose].legal_basis.items()},
                    rule=rule,
                )
            )
    return out
