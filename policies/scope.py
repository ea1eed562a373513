"""What a consent covers: the exact cells of the agreement the customer accepted, and how a matrix change moves them.

A consent names purposes, categories (a parent covers its children) and recipients (an organisation, a role or
`any`); the agreement shown when it was given listed the flows the matrix allowed then. The record keeps the
intersection, cell by cell (`ConsentRecord.cells`), so a later widening of the matrix — a new category, purpose or
recipient, or a release where only statistics were listed — is not covered until the customer consents again
(decision reason `consent_scope_changed`), while a narrowing applies at once through the matrix itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policies.consent import ALL_CATEGORIES, ANY_RECIPIENT, Cell, ConsentRecord
from policies.flows import Flow, allowed_flows
from policies.matrix import MatrixRule
from policies.taxonomy import Taxonomy

__all__ = ["flow_changes", "pending_cells", "shown_cells"]


def _recipients_named(taxonomy: Taxonomy, recipients: Iterable[str]) -> dict[str, str]:
    """Recipient id -> role of every organisation the record's recipients name."""
    named = set(recipients)
    return {
        r.id: r.role
        for r in taxonomy.recipients.values()
        if ANY_RECIPIENT in named or f"org:{r.id}" in named or f"role:{r.role}" in named
    }


def shown_cells(
    taxonomy: Taxonomy,
    flows: Sequence[Flow],
    *,
    purposes: Iterable[str],
    categories: Sequence[str],
    recipients: Iterable[str],
) -> tuple[Cell, ...]:
    """The cells of `flows` (the agreement's, from `allowed_flows`) that a consent of this scope covers, sorted."""
    wanted = set(purposes)
    by_role: dict[str, list[str]] = {}
    for recipient, role in _recipients_named(taxonomy, recipients).items():
        by_role.setdefault(role, []).append(recipient)
    named = set(categories)
    cells = {
        (f.customer_type, f.category, f.purpose, recipient, f.mode)
        for f in flows
        if f.purpose in wanted
        and f.role in by_role
        and (ALL_CATEGORIES in named or named.intersection(taxonomy.lineage(f.category)))
        for recipient in by_role[f.role]
    }
    return tuple(sorted(cells))


def pending_cells(taxonomy: Taxonomy, flows: Sequence[Flow], record: ConsentRecord) -> tuple[Cell, ...]:
    """The cells the matrix now allows within the record's scope that its agreement did not list: what awaits the
    customer's decision after a widening (nothing for a record whose cells were not recorded)."""
    if record.cells is None:
        return ()
    now = shown_cells(
        taxonomy, flows, purposes=record.purposes, categories=record.categories, recipients=record.recipients
    )
    listed = set(record.cells)
    return tuple(cell for cell in now if cell not in listed)


def flow_changes(
    taxonomy: Taxonomy, before: Sequence[MatrixRule], after: Sequence[MatrixRule]
) -> dict[str, list[list[str]]]:
    """What a matrix change does to consents: `widened` flows need a fresh consent before anything is released
    under them; `narrowed` flows stop at once. Recorded in the change's ledger entry."""
    old = {(f.role, f.customer_type, f.category, f.purpose, f.mode) for f in allowed_flows(taxonomy, before)}
    new = {(f.role, f.customer_type, f.category, f.purpose, f.mode) for f in allowed_flows(taxonomy, after)}
    return {"widened": [list(f) for f in sorted(new - old)], "narrowed": [list(f) for f in sorted(old - new)]}
