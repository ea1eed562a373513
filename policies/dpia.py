"""A risk-rated data protection impact assessment (GDPR Art. 35, PIPL Art. 55-56) of every flow the matrix allows.

Each flow (category x purpose x recipient x customer type x destination country) gets a likelihood and a severity
by stated rules (`RATING_RULES`), the mitigations in force, and a residual rating; `consentry policy dpia` writes
it as Markdown and JSON and fails on a high residual risk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.flows import allowed_flows
from policies.matrix import MatrixRule
from policies.taxonomy import Taxonomy

# The stated rules of the risk rating (printed at the head of every assessment, so a reader can redo it).
RATING_RULES = (
    "Likelihood starts at 1 and gains 1 for each of: cross-border (the recipient is under another law than the "
    "controller); sale or sharing (the purpose is marked sale_or_share); large scale (the purpose does not rest on "
    "consent, so it covers every customer of the type); continuous tracking (a precise location track or driving "
    "behaviour, released). Capped at 4.",
    "Severity starts at 1 (normal), 2 (high_risk), 3 (sensitive: PIPL Art. 28) or 4 (special: GDPR Art. 9, "
    "biometrics) and gains 1 for each of: minors (the customer type is a minor's); consumption profiling "
    "(behavior.consumption). Capped at 4.",
    "Mitigations in force: predicate-only or aggregate-only mode sets severity to 1 (the value never leaves); a "
    "separate consent (sensitive data under a law requiring it, on consent), a guardian's consent (a minor's data, "
    "under a law with guardian rules, on consent) and a retention period of at most 365 days are listed; together "
    "they lower likelihood by one step (they make misuse less likely, not harmless). Likelihood never goes below 1.",
    "Rating of likelihood x severity: high from 8, medium from 4, low below. A high residual rating fails the "
    "assessment (exit 1).",
)
HIGH, MEDIUM = 8, 4


def _rating(score: int) -> str:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


@dataclass(frozen=True)
class RiskAssessment:
    """One flow, rated: what makes it likely and severe, what mitigates it, and the rating before and after."""

    category: str
    purpose: str
    recipient: str
    customer_type: str
    destination: str
    mode: str
    rule: str
    likelihood: int
    severity: int
    factors: tuple[str, ...]
    inherent: str
    mitigations: tuple[str, ...]
    residual_likelihood: int
    residual_severity: int
    residual: str

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "factors": list(self.factors), "mitigations": list(self.mitigations)}


def assess_risks(taxonomy: Taxonomy, rules: Sequence[MatrixRule]) -> list[RiskAssessment]:
    """Every flow the matrix allows, per recipient, rated by `RATING_RULES`; highest residual risk first."""
    controller_law = taxonomy.jurisdictions[taxonomy.controller_jurisdiction].law
    minor_types = {t.id for t in taxonomy.customer_types.values() if t.minor}
    guardian_laws = [j for j in taxonomy.jurisdictions.values() if j.minors is not None]
    out: list[RiskAssessment] = []
    for flow in allowed_flows(taxonomy, rules):
        category = taxonomy.categories[flow.category]
        purpose = taxonomy.purposes[flow.purpose]
        lineage = set(taxonomy.lineage(flow.category))
        on_consent = any(b.value == "consent" for b in purpose.legal_basis.values())
        for recipient in (r for r in taxonomy.recipients.values() if r.role == flow.role):
            factors: list[str] = []
            law = taxonomy.jurisdictions[recipient.jurisdiction].law
            if law != controller_law:
                factors.append("cross-border")
            if purpose.sale_or_share:
                factors.append("sale-or-share")
            if not on_consent:
                factors.append("large-scale")
            if flow.mode == "release" and lineage & {"location.precise", "behavior.driving"}:
                factors.append("continuous-tracking")
            likelihood = min(4, 1 + len(factors))
            base = {"special": 4, "sensitive": 3}.get(category.sensitivity.value, 2 if category.high_risk else 1)
            severity_factors = [category.sensitivity.value] if category.sensitive else []
            if category.high_risk and not category.sensitive:
                severity_factors.append("high-risk")
            bonus = 0
            if flow.customer_type in minor_types:
                severity_factors.append("minors")
                bonus += 1
            if "behavior.consumption" in lineage:
                severity_factors.append("consumption-profiling")
                bonus += 1
            severity = min(4, base + bonus)
            mitigations: list[str] = []
            residual_severity = severity
            if flow.mode in ("predicate", "aggregate"):
                mitigations.append(f"{flow.mode}-only")
                residual_severity = 1
            lowered = 0
            if (
                on_consent
                and category.sensitive
                and any(j.separate_consent_for_sensitive for j in taxonomy.jurisdictions.values())
            ):
                mitigations.append("separate-consent")
                lowered += 1
            if on_consent and flow.customer_type in minor_types and guardian_laws:
                mitigations.append("guardian-consent")
                lowered += 1
            if purpose.retention_days is not None and purpose.retention_days <= 365:
                mitigations.append(f"retention-{purpose.retention_days}-days")
                lowered += 1
            # Consent-based controls lower the chance of harm by one step together, not one each.
            residual_likelihood = max(1, likelihood - min(lowered, 1))
            out.append(
                RiskAssessment(
                    category=flow.category,
                    purpose=flow.purpose,
                    recipient=recipient.id,
                    customer_type=flow.customer_type,
                    destination=recipient.country or recipient.jurisdiction,
                    mode=flow.mode,
                    rule=flow.rule,
                    likelihood=likelihood,
                    severity=severity,
                    factors=tuple(factors + severity_factors),
                    inherent=_rating(likelihood * severity),
                    mitigations=tuple(mitigations),
                    residual_likelihood=residual_likelihood,
                    residual_severity=residual_severity,
                    residual=_rating(residual_likelihood * residual_severity),
                )
            )
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(
        out,
        key=lambda a: (
            order[a.residual],
            -a.residual_likelihood * a.residual_severity,
            a.category,
            a.recipient,
            a.customer_type,
        ),
    )


def assessment_markdown(taxonomy: Taxonomy, assessments: Sequence[RiskAssessment]) -> str:
    """The assessment as a Markdown document: the rules, a summary, and one table row per flow."""
    counts = {r: sum(1 for a in assessments if a.residual == r) for r in ("high", "medium", "low")}
    lines = [
        f"# Data protection impact assessment: {taxonomy.controller_name.en}",
        "",
        f"Taxonomy {taxonomy.source} (sha256 {taxonomy.digest[:16]}…). Flows rated: {len(assessments)}; residual "
        f"high {counts['high']}, medium {counts['medium']}, low {counts['low']}.",
        "",
        "## Rules",
        "",
        *[f"- {rule}" for rule in RATING_RULES],
        "",
        "## Flows, highest residual risk first",
        "",
        "| residual | inherent | category | purpose | recipient | customer type | destination | mode | factors "
        "| mitigations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in assessments:
        lines.append(
            f"| **{a.residual}** ({a.residual_likelihood}×{a.residual_severity}) | {a.inherent} "
            f"({a.likelihood}×{a.severity}) | {a.category} | {a.purpose} | {a.recipient} | {a.customer_type} | "
            f"{a.destination} | {a.mode} | {', '.join(a.factors) or '—'} | {', '.join(a.mitigations) or '—'} |"
        )
    return "\n".join(lines) + "\n"
