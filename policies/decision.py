"""What a decision says: per category, allowed or not, and why, in stable codes fit for an HTTP response."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Stable reason codes. The first three explain an allow; the rest a refusal."""

    MATRIX_ALLOW = "matrix_allow"
    CONSENT = "consent"
    LEGAL_BASIS = "legal_basis"
    UNKNOWN_CATEGORY = "unknown_category"
    MATRIX_DENY = "matrix_deny"
    NO_MATCHING_RULE = "no_matching_rule"
    NO_LEGAL_BASIS = "no_legal_basis"
    NO_CONSENT = "no_consent"
    CONSENT_REFUSED = "consent_refused"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_INVALIDATED = "consent_invalidated"
    SEPARATE_CONSENT_REQUIRED = "separate_consent_required"
    CROSS_BORDER_CONSENT_REQUIRED = "cross_border_consent_required"
    GUARDIAN_CONSENT_REQUIRED = "guardian_consent_required"
    FRESH_CONSENT_REQUIRED = "fresh_consent_required"
    CONSENT_SCOPE_CHANGED = "consent_scope_changed"
    OBJECTION = "objection"
    OPT_OUT_OF_SALE = "opt_out_of_sale"
    SENSITIVE_USE_LIMITED = "sensitive_use_limited"
    PROCESSING_RESTRICTED = "processing_restricted"


@dataclass(frozen=True)
class SubjectContext:
    """Who the data is about, as the gateway resolved them."""

    id: str
    customer_type: str
    jurisdiction: str


@dataclass(frozen=True)
class ConsentRef:
    """Evidence: the consent record and the ledger entry of the event that made it what it is."""

    record_id: str
    ledger_index: int | None


@dataclass(frozen=True)
class CategoryDecision:
    """`reasons[0]` is the matrix's answer; the rest are the legal basis's (`consent` or `legal_basis` when
    allowed, every failed requirement when not). `consent` cites the record and ledger entry relied on."""

    category: str
    allowed: bool
    reasons: tuple[Reason, ...]
    rule: str | None = None
    legal_basis: str | None = None
    consent: ConsentRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "allowed": self.allowed,
            "reasons": [r.value for r in self.reasons],
            "rule": self.rule,
            "legal_basis": self.legal_basis,
            "consent": None
            if self.consent is None
            else {"record_id": self.consent.record_id, "ledger_index": self.consent.ledger_index},
        }


@dataclass(frozen=True)
class Decision:
    recipient: str
    purpose: str
    mode: str
    at: datetime
    matrix_version: int
    categories: tuple[CategoryDecision, ...]

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(c.category for c in self.categories if c.allowed)

    @property
    def withheld(self) -> tuple[str, ...]:
        return tuple(c.category for c in self.categories if not c.allowed)

    def of(self, category: str) -> CategoryDecision:
        for c in self.categories:
            if c.category == category:
                return c
        raise KeyError(category)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "purpose": self.purpose,
            "mode": self.mode,
            "at": self.at.isoformat(),
            "matrix_version": self.matrix_version,
            "categories": [c.to_dict() for c in self.categories],
        }
