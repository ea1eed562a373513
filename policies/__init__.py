"""Consent records, the data taxonomy and the Casbin authorization matrix, and the decision that joins them.

`DecisionEngine.decide(recipient, subject, categories, purpose, mode=..., at=...)` answers, per data category,
whether the enterprise matrix AND a legal basis AND the special rules (sensitive data, minors, cross-border,
changed purposes) allow it — and why. A process wires it up with

    rt = open_policies(url, pseudonym_key=key, taxonomy=path, ledger=ledger)   # migrates; seeds the demo matrix
    rt.engine.decide("dealer-sh-4s", SubjectContext(id, "standard", "CN"), ["vehicle.vin"], "repair_prediction")

or, for decisions only, `DecisionEngine.open(url, taxonomy_path)` on an already migrated database.
"""

from policies.agreement import Agreement, render_agreement
from policies.compliance import Finding
from policies.compliance import check as check_compliance
from policies.consent import (
    Cell,
    CollectionMethod,
    ConsentEvent,
    ConsentRecord,
    ConsentStatus,
    GivenBy,
    Notice,
    RecordKind,
    apply_event,
    fold,
    in_force,
    in_force_until,
    retention_end,
)
from policies.decision import CategoryDecision, ConsentRef, Decision, Reason, SubjectContext
from policies.dpia import RATING_RULES, RiskAssessment, assess_risks, assessment_markdown
from policies.enforcer import IndexedEnforcer, MatrixOutcome, new_casbin_enforcer
from policies.engine import DecisionEngine, DecisionMode, StateSource
from policies.errors import (
    ConsentError,
    PolicyError,
    Problem,
    StateUnavailableError,
    UnchangedMatrixError,
    UnknownNameError,
    ValidationError,
)
from policies.flows import Flow, allowed_flows
from policies.matrix import (
    BUDGET_PERIODS,
    DEFAULT_MATRIX,
    Effect,
    Matrix,
    MatrixRule,
    Mode,
    PrivacyBudget,
    load_matrix,
    matrix_from_document,
    parse_matrix,
    validate_rules,
)
from policies.migrate import upgrade
from policies.questions import AskedRule, Questions, TemplateSpec
from policies.runtime import PolicyRuntime, open_policies
from policies.scope import Split, flow_changes, shown_cells, split
from policies.states import ALLOW_REASONS, STATE_OF_REASON, CellState, cell_state
from policies.store import ConsentStore, PolicyChange, PolicyConflictError, PolicyStore, SqlState
from policies.taxonomy import (
    DEFAULT_TAXONOMY,
    JURISDICTION_CODE,
    RETENTION_KINDS,
    Category,
    CustomerType,
    Jurisdiction,
    LegalBasis,
    MinorRules,
    Purpose,
    Recipient,
    RetentionAction,
    RetentionRule,
    Sensitivity,
    Taxonomy,
    load_taxonomy,
    parse_taxonomy,
)

__all__ = [
    "ALLOW_REASONS",
    "BUDGET_PERIODS",
    "DEFAULT_MATRIX",
    "DEFAULT_TAXONOMY",
    "JURISDICTION_CODE",
    "RATING_RULES",
    "RETENTION_KINDS",
    "STATE_OF_REASON",
    "Agreement",
    "AskedRule",
    "Category",
    "CategoryDecision",
    "Cell",
    "CellState",
    "CollectionMethod",
    "ConsentError",
    "ConsentEvent",
    "ConsentRecord",
    "ConsentRef",
    "ConsentStatus",
    "ConsentStore",
    "CustomerType",
    "Decision",
    "DecisionEngine",
    "DecisionMode",
    "Effect",
    "Finding",
    "Flow",
    "GivenBy",
    "IndexedEnforcer",
    "Jurisdiction",
    "LegalBasis",
    "Matrix",
    "MatrixOutcome",
    "MatrixRule",
    "MinorRules",
    "Mode",
    "Notice",
    "PolicyChange",
    "PolicyConflictError",
    "PolicyError",
    "PolicyRuntime",
    "PolicyStore",
    "PrivacyBudget",
    "Problem",
    "Purpose",
    "Questions",
    "Reason",
    "Recipient",
    "RecordKind",
    "RetentionAction",
    "RetentionRule",
    "RiskAssessment",
    "Sensitivity",
    "Split",
    "SqlState",
    "StateSource",
    "StateUnavailableError",
    "SubjectContext",
    "Taxonomy",
    "TemplateSpec",
    "UnchangedMatrixError",
    "UnknownNameError",
    "ValidationError",
    "allowed_flows",
    "apply_event",
    "assess_risks",
    "assessment_markdown",
    "cell_state",
    "check_compliance",
    "flow_changes",
    "fold",
    "in_force",
    "in_force_until",
    "load_matrix",
    "load_taxonomy",
    "matrix_from_document",
    "new_casbin_enforcer",
    "open_policies",
    "parse_matrix",
    "parse_taxonomy",
    "render_agreement",
    "retention_end",
    "shown_cells",
    "split",
    "upgrade",
    "validate_rules",
]
