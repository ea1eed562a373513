"""Consent records, the data taxonomy and the Casbin authorization matrix, and the decision that joins them.

`DecisionEngine.decide(recipient, subject, categories, purpose, mode=..., at=...)` answers, per data category,
whether the enterprise matrix AND a legal basis AND the special rules (sensitive data, minors, cross-border,
changed purposes) allow it — and why.
"""

from policies.consent import (
    CollectionMethod,
    ConsentEvent,
    ConsentRecord,
    ConsentStatus,
    GivenBy,
    Notice,
    RecordKind,
    apply_event,
    fold,
)
from policies.decision import CategoryDecision, ConsentRef, Decision, Reason, SubjectContext
from policies.enforcer import IndexedEnforcer, MatrixOutcome, new_casbin_enforcer
from policies.engine import DecisionEngine, StateSource
from policies.errors import ConsentError, PolicyError, Problem, UnknownNameError, ValidationError
from policies.matrix import DEFAULT_MATRIX, Effect, Matrix, MatrixRule, Mode, load_matrix, parse_matrix, validate_rules
from policies.taxonomy import (
    DEFAULT_TAXONOMY,
    Category,
    CustomerType,
    Jurisdiction,
    LegalBasis,
    Purpose,
    Recipient,
    Sensitivity,
    Taxonomy,
    load_taxonomy,
    parse_taxonomy,
)

__all__ = [
    "DEFAULT_MATRIX",
    "DEFAULT_TAXONOMY",
    "Category",
    "CategoryDecision",
    "CollectionMethod",
    "ConsentError",
    "ConsentEvent",
    "ConsentRecord",
    "ConsentRef",
    "ConsentStatus",
    "CustomerType",
    "Decision",
    "DecisionEngine",
    "Effect",
    "GivenBy",
    "IndexedEnforcer",
    "Jurisdiction",
    "LegalBasis",
    "Matrix",
    "MatrixOutcome",
    "MatrixRule",
    "Mode",
    "Notice",
    "PolicyError",
    "Problem",
    "Purpose",
    "Reason",
    "Recipient",
    "RecordKind",
    "Sensitivity",
    "StateSource",
    "SubjectContext",
    "Taxonomy",
    "UnknownNameError",
    "ValidationError",
    "apply_event",
    "fold",
    "load_matrix",
    "load_taxonomy",
    "new_casbin_enforcer",
    "parse_matrix",
    "parse_taxonomy",
    "validate_rules",
]
