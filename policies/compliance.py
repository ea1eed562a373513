"""Static checks of the taxonomy and matrix together: conflicts a regulator would ask about, before any request.

Each finding names a stable code, what it concerns and why it matters; `consentry policy check` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from policies.flows import Flow, allowed_flows
from policies.matrix import ANY, Effect, MatrixRule
from policies.taxonomy import LegalBasis, Taxonomy

TRANSFER_LAWS = frozenset({"GDPR", "PIPL"})  # laws whose notices name transfers abroad and their safeguards


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def check(taxonomy: Taxonomy, rules: Sequence[MatrixRule]) -> list[Finding]:
    flows = allowed_flows(taxonomy, rules)
    findings: list[Finding] = []
    findings += _missing_retention(taxonomy)
    findings += _missing_basis(taxonomy, flows)
    findings += _sensitive_without_separate_consent(taxonomy, flows)
    findings += _cross_border_without_consent(taxonomy, flows)
    findings += _minors_without_guardian(taxonomy, flows)
    findings += _rules_that_never_fire(taxonomy, rules)
    findings += notice_gaps(taxonomy)
    return findings


def notice_gaps(tax: Taxonomy) -> list[Finding]:
    """What the taxonomy lacks for the agreements to carry every item the law requires of a notice, each at the
    line where it belongs: the controller's contact and officer (GDPR 13(1)(a, b), PIPL 17, 52), the complaint
    authority per jurisdiction (GDPR 13(2)(d)), each recipient's legal name, contact and country (PIPL 23, 39;
    GDPR 13(1)(e)) and, for a recipient under another law than a transfer-regulating one, its safeguard
    (GDPR 13(1)(f), PIPL 38)."""
    found: list[Finding] = []
    if tax.controller_contact is None:
        found.append(
            Finding("notice_missing_item", "controller: no 'contact' (GDPR 13(1)(a), PIPL 17)", tax.controller_line)
        )
    if tax.dpo is None:
        found.append(
            Finding("notice_missing_item", "controller: no 'dpo' officer (GDPR 13(1)(b), PIPL 52)", tax.controller_line)
        )
    for jur in tax.jurisdictions.values():
        if jur.complaint_authority is None:
            found.append(
                Finding(
                    "notice_missing_item",
                    f"jurisdiction {jur.id!r}: no 'complaint_authority' (GDPR 13(2)(d))",
                    jur.line,
                )
            )
    regulated = {j.law for j in tax.jurisdictions.values()} & TRANSFER_LAWS
    for rec in tax.recipients.values():
        missing = [
            k for k, v in (("legal_name", rec.legal_name), ("contact", rec.contact), ("country", rec.country)) if not v
        ]
        rec_law = tax.jurisdictions[rec.jurisdiction].law if rec.jurisdiction in tax.jurisdictions else ""
        if rec.transfer_safeguard is None and regulated - {rec_law}:
            missing.append("transfer_safeguard")
        if missing:
            found.append(
                Finding(
                    "notice_missing_item",
                    f"recipient {rec.id!r}: no {', '.join(repr(m) for m in missing)} (PIPL 23, 39; GDPR 13(1)(e, f))",
                    rec.line,
                )
            )
    return found


def _missing_retention(tax: Taxonomy) -> list[Finding]:
    return [
        Finding("missing_retention", f"purpose {p.id!r} has no retention period", p.line)
        for p in tax.purposes.values()
        if p.retention_days is None
    ]


def _missing_basis(tax: Taxonomy, flows: Sequence[Flow]) -> list[Finding]:
    used = sorted({f.purpose for f in flows})
    return [
        Finding(
            "purpose_without_legal_basis",
            f"purpose {p!r} is allowed by the matrix but has no legal basis under {j.law} ({j.id})",
            tax.purposes[p].line,
        )
        for p in used
        for j in tax.jurisdictions.values()
        if j.id not in tax.purposes[p].legal_basis
    ]


def _sensitive_without_separate_consent(tax: Taxonomy, flows: Sequence[Flow]) -> list[Finding]:
    """PIPL Art. 29: sensitive data needs a separate consent, which only a consent-based purpose can collect."""
    out = set()
    for f in flows:
        if not tax.categories[f.category].sensitive:
            continue
        for j in tax.jurisdictions.values():
            basis = tax.purposes[f.purpose].legal_basis.get(j.id)
            if j.separate_consent_for_sensitive and basis is not None and basis is not LegalBasis.CONSENT:
                out.add((f.category, f.purpose, j.id, j.law, f.rule))
    return [
        Finding(
            "sensitive_without_separate_consent",
            f"sensitive category {c!r} reaches purpose {p!r} (rule {r!r}) on a non-consent basis in {jid}: "
            f"{law} asks for a separate consent that this purpose never collects",
        )
        for c, p, jid, law, r in sorted(out)
    ]


def _cross_border_without_consent(tax: Taxonomy, flows: Sequence[Flow]) -> list[Finding]:
    """PIPL Art. 39: a transfer abroad needs separate consent naming the foreign recipient."""
    out = set()
    roles = {(f.role, f.purpose) for f in flows}
    for recipient in tax.recipients.values():
        for j in tax.jurisdictions.values():
            if not j.separate_consent_for_cross_border or recipient.jurisdiction == j.id:
                continue
            for role, purpose in roles:
                basis = tax.purposes[purpose].legal_basis.get(j.id)
                if role == recipient.role and basis is not None and basis is not LegalBasis.CONSENT:
                    out.add((recipient.id, recipient.jurisdiction, purpose, j.id))
    return [
        Finding(
            "cross_border_without_consent",
            f"recipient {r!r} ({rj}) receives data for {p!r}, which is not consent-based in {jid}: "
            "every such transfer will be refused until a separate cross-border consent is recorded",
        )
        for r, rj, p, jid in sorted(out)
    ]


# Bases where nobody (and so no guardian) is ever asked: contract, legal obligation and vital interest involve the
# guardian or the law directly, so they are not reported.
_UNASKED = frozenset({LegalBasis.LEGITIMATE_INTEREST, LegalBasis.NOTICE, LegalBasis.PUBLIC_INTEREST})


def _minors_without_guardian(tax: Taxonomy, flows: Sequence[Flow]) -> list[Finding]:
    minors = {t.id for t in tax.customer_types.values() if t.minor}
    grouped: dict[tuple[str, str, str, str], set[str]] = {}
    for f in flows:
        if f.customer_type not in minors:
            continue
        for j in tax.jurisdictions.values():
            basis = tax.purposes[f.purpose].legal_basis.get(j.id)
            if basis in _UNASKED:
                grouped.setdefault((f.customer_type, f.purpose, j.id, str(basis)), set()).add(f.category)
    return [
        Finding(
            "minors_without_guardian_consent",
            f"{t!r} data ({', '.join(sorted(cats))}) flows for {p!r} on {b!r} in {jid}: no guardian is ever asked",
            tax.purposes[p].line,
        )
        for (t, p, jid, b), cats in sorted(grouped.items())
    ]


def _covers(general: str, specific: str) -> bool:
    return general in (ANY, specific)


def _rules_that_never_fire(tax: Taxonomy, rules: Sequence[MatrixRule]) -> list[Finding]:
    """An allow rule wholly inside a deny rule's scope, or for a role no recipient has, can never allow anything."""
    roles_in_use = {r.role for r in tax.recipients.values()}
    denies = [r for r in rules if r.effect is Effect.DENY]
    out = []
    for rule in rules:
        if rule.role != ANY and rule.role not in roles_in_use:
            out.append(Finding("rule_never_fires", f"rule {rule.id!r}: no recipient has role {rule.role!r}", rule.line))
            continue
        if rule.effect is not Effect.ALLOW:
            continue
        lineage = tax.lineage(rule.category) if rule.category != ANY else (ANY,)
        for deny in denies:
            if (
                _covers(deny.role, rule.role)
                and _covers(deny.customer_type, rule.customer_type)
                and (deny.category == ANY or deny.category in lineage)
                and _covers(deny.purpose, rule.purpose)
                and deny.mode in (ANY, "predicate", rule.mode)
            ):
                out.append(
                    Finding(
                        "rule_never_fires", f"rule {rule.id!r} is always overridden by deny rule {deny.id!r}", rule.line
                    )
                )
                break
    return out
