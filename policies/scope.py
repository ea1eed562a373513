"""What a consent covers: the exact cells of the agreement the customer accepted, and how a matrix change moves them.

A consent names purposes, categories (a parent covers its children) and recipients (an organisation, a role or
`any`); the agreement shown when it was given listed the flows the matrix allowed then. The record keeps the
intersection, cell by cell (`ConsentRecord.cells`), so a later widening of the matrix — a new category, purpose or
recipient, or a release where only statistics were listed — is not covered until the customer consents again
(decision reason `consent_scope_changed`), while a narrowing applies at once through the matrix itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from policies.consent import ALL_CATEGORIES, ANY_RECIPIENT, Cell, ConsentRecord
from policies.flows import Flow, allowed_flows
from policies.matrix import MatrixRule
from policies.taxonomy import Taxonomy

__all__ = ["Split", "flow_changes", "shown_cells", "split"]


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


def flow_changes(
    taxonomy: Taxonomy, before: Sequence[MatrixRule], after: Sequence[MatrixRule]
) -> dict[str, list[list[str]]]:
    """What a matrix change does to consents: `widened` flows need a fresh consent before anything is released
    under them; `narrowed` flows stop at once. Recorded in the change's ledger entry."""
    old = {(f.role, f.customer_type, f.category, f.purpose, f.mode) for f in allowed_flows(taxonomy, before)}
    new = {(f.role, f.customer_type, f.category, f.purpose, f.mode) for f in allowed_flows(taxonomy, after)}
    return {"widened": [list(f) for f in sorted(new - old)], "narrowed": [list(f) for f in sorted(old - new)]}


@dataclass(frozen=True)
class Split:
    """A consent split by an exact withdrawal: the cells withdrawn, and the rest as a record's named scope and cells
    (`remainder` empty when nothing is left)."""

    withdrawn: tuple[Cell, ...]
    remainder: tuple[Cell, ...]
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    recipients: tuple[str, ...]


def split(
    taxonomy: Taxonomy, record: ConsentRecord, cells: tuple[Cell, ...], withdraw: Iterable[tuple[str, str, str]]
) -> Split:
    """Withdraw exactly `withdraw` (category, purpose, recipient id) from a record covering `cells`.

    A category's withdrawal takes its sub-categories and the parents that would include it with it (asking for
    `vehicle` must not bring back a withdrawn `vehicle.vin`). The rest keeps its cells exactly; its named scope
    is narrowed so that it no longer names what was withdrawn: a named parent of a withdrawn category is replaced
    by the categories still covered beneath it, and a purpose or organisation with nothing left is dropped.
    """
    asked = set(withdraw)

    def withdrawn(cell: Cell) -> bool:
        lineage = taxonomy.lineage(cell[1])
        return any(
            (cell[2], cell[3]) == (purpose, recipient)
            and (category in lineage or cell[1] in taxonomy.lineage(category))
            for category, purpose, recipient in asked
        )

    gone = tuple(c for c in cells if withdrawn(c))
    rest = tuple(c for c in cells if not withdrawn(c))
    taken = {c[1] for c in gone}
    categories: list[str] = []
    for named in record.categories:
        if not any(named in taxonomy.lineage(t) for t in taken):
            categories.append(named)
            continue
        beneath = {c[1] for c in rest if named in taxonomy.lineage(c[1])}
        # the broadest categories left beneath the named one, none an ancestor of a withdrawn category
        broadest = {c for c in beneath if not any(a != c and a in beneath for a in taxonomy.lineage(c))}
        categories.extend(sorted(broadest))
    purposes = tuple(p for p in record.purposes if any(c[2] == p for c in rest))
    left = {c[3] for c in rest}
    if all(r.startswith("org:") for r in record.recipients) or left >= set(
        _recipients_named(taxonomy, record.recipients)
    ):
        recipients = tuple(r for r in record.recipients if not r.startswith("org:") or r[4:] in left)
    else:  # a role or `any` lost an organisation: name the organisations left
        recipients = tuple(sorted(f"org:{r}" for r in left))
    return Split(gone, rest, purposes, tuple(dict.fromkeys(categories)), recipients)
