"""What the customer is shown for one category × purpose × recipient: the decision's answer in their terms.

The portal and the consent API show a cell's state, never a reason code; both are derived here from the decision
engine's own `CategoryDecision`, so the state set is closed over the engine's reasons: every refusal reason maps to
exactly one state (`STATE_OF_REASON`, a test checks it is total), and every state has text in every language (a
test enumerates `CellState`). A new reason without a state, or a new state without text, fails CI instead of
answering 500 on the customer's page.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from policies.decision import CategoryDecision, Reason
from policies.taxonomy import LegalBasis

__all__ = ["ALLOW_REASONS", "STATE_OF_REASON", "CellState", "cell_state"]


class CellState(StrEnum):
    GIVEN = "given"
    NOT_NEEDED = "not_needed"
    NOT_ASKED = "not_asked"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    REFUSED = "refused"
    INVALIDATED = "invalidated"
    SEPARATE_CONSENT_REQUIRED = "separate_consent_required"
    CROSS_BORDER_CONSENT_REQUIRED = "cross_border_consent_required"
    GUARDIAN_CONSENT_REQUIRED = "guardian_consent_required"
    FRESH_CONSENT_REQUIRED = "fresh_consent_required"
    AWAITING_DECISION = "awaiting_decision"
    OBJECTED = "objected"
    OPTED_OUT = "opted_out"
    LIMITED = "limited"
    RESTRICTED = "restricted"
    NOT_ALLOWED = "not_allowed"


# The reasons that explain an allow; every other reason is a refusal and has a state below.
ALLOW_REASONS = frozenset({Reason.MATRIX_ALLOW, Reason.CONSENT, Reason.LEGAL_BASIS})

# Refusal reason -> state, in priority order: a refused category shows the state of the first reason it carries.
# The matrix's refusals come first (no consent can release what the enterprise never shares), then what the
# customer did to the consent, then what is still missing, then "not asked".
STATE_OF_REASON: Mapping[Reason, CellState] = MappingProxyType(
    {
        Reason.UNKNOWN_CATEGORY: CellState.NOT_ALLOWED,
        Reason.MATRIX_DENY: CellState.NOT_ALLOWED,
        Reason.NO_MATCHING_RULE: CellState.NOT_ALLOWED,
        Reason.NO_LEGAL_BASIS: CellState.NOT_ALLOWED,
        Reason.CONSENT_WITHDRAWN: CellState.WITHDRAWN,
        Reason.CONSENT_EXPIRED: CellState.EXPIRED,
        Reason.CONSENT_REFUSED: CellState.REFUSED,
        Reason.CONSENT_INVALIDATED: CellState.INVALIDATED,
        Reason.OBJECTION: CellState.OBJECTED,
        Reason.OPT_OUT_OF_SALE: CellState.OPTED_OUT,
        Reason.SENSITIVE_USE_LIMITED: CellState.LIMITED,
        Reason.PROCESSING_RESTRICTED: CellState.RESTRICTED,
        Reason.GUARDIAN_CONSENT_REQUIRED: CellState.GUARDIAN_CONSENT_REQUIRED,
        Reason.SEPARATE_CONSENT_REQUIRED: CellState.SEPARATE_CONSENT_REQUIRED,
        Reason.CROSS_BORDER_CONSENT_REQUIRED: CellState.CROSS_BORDER_CONSENT_REQUIRED,
        Reason.FRESH_CONSENT_REQUIRED: CellState.FRESH_CONSENT_REQUIRED,
        Reason.CONSENT_SCOPE_CHANGED: CellState.AWAITING_DECISION,
        Reason.NO_CONSENT: CellState.NOT_ASKED,
    }
)


def cell_state(decision: CategoryDecision, basis: LegalBasis | None) -> CellState:
    """The state of one decided category under the purpose's legal basis in the customer's jurisdiction."""
    if decision.allowed:
        return CellState.GIVEN if basis is LegalBasis.CONSENT else CellState.NOT_NEEDED
    for reason, state in STATE_OF_REASON.items():
        if reason in decision.reasons:
            return state
    raise ValueError(f"a refused decision without a refusal reason: {[r.value for r in decision.reasons]}")
