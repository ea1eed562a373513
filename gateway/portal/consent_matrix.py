"""The "My consents" matrix as the page shows it: per recipient, data categories (rows) × purposes (columns).

Built from the consent service's catalog and state (`gateway.rights.consents`), so the page and the REST API show
the same answers. The matrix also works out what the row, column and cell buttons act on: which cells
could be given (and whether that needs a separate confirmation), and which consent records a withdrawal
ends. A record may cover more than one cell; withdrawing it ends all of them, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies import CellState

__all__ = ["GIVABLE_STATES", "MatrixCell", "RecipientMatrix", "Scope", "build_matrix"]

# States in which the customer can (again) give consent: nothing given yet, a consent that ended, or one that lacks
# what a new grant supplies (the separate confirmation of a sensitive category or a transfer abroad, a consent to
# the purpose's current revision). `not_needed` rests on another legal basis; the guardian's consent is not the
# customer's to give; objections and opt-outs are refusals, not consents.
GIVABLE_STATES = frozenset(
    {
        CellState.NOT_ASKED,
        CellState.WITHDRAWN,
        CellState.EXPIRED,
        CellState.REFUSED,
        CellState.INVALIDATED,
        CellState.SEPARATE_CONSENT_REQUIRED,
        CellState.CROSS_BORDER_CONSENT_REQUIRED,
        CellState.FRESH_CONSENT_REQUIRED,
        CellState.AWAITING_DECISION,
    }
)
_MODE_RANK = {"release": 0, "predicate": 1, "aggregate": 2}


@dataclass(frozen=True)
class MatrixCell:
    category: str
    purpose: str
    state: str
    legal_basis: str | None
    mode: str
    record_id: str | None
    notice_version: str | None
    ledger_index: int | None
    sensitive: bool
    shared_with: int = 0  # other cells of the same recipient the same consent record covers

    @property
    def givable(self) -> bool:
        return self.state in GIVABLE_STATES

    @property
    def withdrawable(self) -> bool:
        return self.state == "given" and self.record_id is not None


@dataclass(frozen=True)
class Scope:
    """What one "give" button asks for: purposes × categories for one recipient, and what it must confirm."""

    recipient: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    sensitive: tuple[str, ...]
    cross_border: bool

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.sensitive) or self.cross_border


@dataclass
class RecipientMatrix:
    recipient: dict[str, Any]
    purposes: list[str]
    categories: list[str]
    cells: dict[tuple[str, str], MatrixCell] = field(default_factory=dict)

    def cell(self, category: str, purpose: str) -> MatrixCell | None:
        return self.cells.get((category, purpose))

    def _scope(self, cells: list[MatrixCell]) -> Scope | None:
        givable = [cell for cell in cells if cell.givable]
        if not givable:
            return None
        return Scope(
            recipient=self.recipient["id"],
            purposes=tuple(dict.fromkeys(cell.purpose for cell in givable)),
            categories=tuple(dict.fromkeys(cell.category for cell in givable)),
            sensitive=tuple(dict.fromkeys(cell.category for cell in givable if cell.sensitive)),
            cross_border=bool(self.recipient["needs_cross_border_consent"]),
        )

    def cell_scope(self, category: str, purpose: str) -> Scope | None:
        found = self.cell(category, purpose)
        return self._scope([found]) if found else None

    def row_scope(self, category: str) -> Scope | None:
        """One record per row: this category for every purpose of the row still to be given."""
        return self._scope([cell for (row, _), cell in self.cells.items() if row == category])

    def column_scope(self, purpose: str) -> Scope | None:
        return self._scope([cell for (_, column), cell in self.cells.items() if column == purpose])

    def row_withdrawable(self, category: str) -> list[MatrixCell]:
        """The given cells of a row: a row's "withdraw" ends exactly these, whatever else their records cover."""
        return [cell for (row, _), cell in self.cells.items() if row == category and cell.withdrawable]

    def column_withdrawable(self, purpose: str) -> list[MatrixCell]:
        return [cell for (_, column), cell in self.cells.items() if column == purpose and cell.withdrawable]


def build_matrix(catalog: dict[str, Any], state: dict[str, Any]) -> list[RecipientMatrix]:
    """Group the service's cells by recipient, in the catalog's order of recipients, categories and purposes.

    The matrix can allow the same flow in several modes (release, predicate, aggregate); the page shows one cell
    per category × purpose, the consent answer being the same for all, with the widest mode (a cell allowed only
    for aggregates says "only anonymous statistics").
    """
    purpose_order = {p["id"]: i for i, p in enumerate(catalog["purposes"])}
    category_order = {c["id"]: i for i, c in enumerate(catalog["categories"])}
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for cell in state["cells"]:
        key = (cell["recipient"], cell["category"], cell["purpose"])
        if key not in chosen or _MODE_RANK.get(cell["mode"], 9) < _MODE_RANK.get(chosen[key]["mode"], 9):
            chosen[key] = cell
    coverage: dict[tuple[str, str], int] = {}
    for (recipient, _, _), cell in chosen.items():
        if cell["record_id"] and cell["state"] == "given":
            coverage[(recipient, cell["record_id"])] = coverage.get((recipient, cell["record_id"]), 0) + 1
    matrices: list[RecipientMatrix] = []
    for recipient in catalog["recipients"]:
        mine = {key: cell for key, cell in chosen.items() if key[0] == recipient["id"]}
        if not mine:
            continue
        matrix = RecipientMatrix(
            recipient=recipient,
            purposes=sorted({key[2] for key in mine}, key=lambda p: purpose_order.get(p, len(purpose_order))),
            categories=sorted({key[1] for key in mine}, key=lambda c: category_order.get(c, len(category_order))),
        )
        for (_, category, purpose), cell in mine.items():
            record = cell["record_id"]
            shared = coverage.get((recipient["id"], record), 1) - 1 if record and cell["state"] == "given" else 0
            matrix.cells[(category, purpose)] = MatrixCell(
                category=category,
                purpose=purpose,
                state=cell["state"],
                legal_basis=cell["legal_basis"],
                mode=cell["mode"],
                record_id=record,
                notice_version=cell["notice_version"],
                ledger_index=cell["ledger_index"],
                sensitive=bool(cell["sensitive"]),
                shared_with=shared,
            )
        matrices.append(matrix)
    return matrices
