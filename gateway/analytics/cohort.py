"""Which customers of one bulk page count towards an aggregate: enrolled, and allowed by the matrix AND their
consents for this recipient, purpose and every category the statistic reads, in `aggregate` mode.

A page is resolved with two queries (the customers behind its source subjects, then their consents through the
decision engine's batch read), so the cost per customer stays flat for millions of customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from gateway.store.tables import customers
from policies import DecisionEngine, SubjectContext

__all__ = ["Member", "admitted"]


@dataclass(frozen=True, slots=True)
class Member:
    source_subject: str
    customer_id: str


def _customers(engine: Engine, subjects: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    t = customers.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.source_subject, t.customer_id, t.customer_type, t.jurisdiction).where(
                t.source_subject.in_(list(subjects))
            )
        ).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def admitted(
    engine: Engine,
    decisions: DecisionEngine,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    subjects: Sequence[str],
) -> list[Member]:
    """The page's subjects whose every category is allowed for aggregates (unenrolled subjects never count)."""
    if not subjects:
        return []
    taxonomy = decisions.taxonomy
    # a customer whose type or jurisdiction the taxonomy does not know cannot be decided, so never counts
    known = {
        subject: row
        for subject, row in _customers(engine, subjects).items()
        if row[1] in taxonomy.customer_types and row[2] in taxonomy.jurisdictions
    }
    order = [s for s in subjects if s in known]
    contexts = [SubjectContext(known[s][0], known[s][1], known[s][2]) for s in order]
    verdicts = decisions.admit_many(recipient, contexts, list(categories), purpose, mode="aggregate")
    return [
        Member(subject, context.id)
        for subject, context, allowed in zip(order, contexts, verdicts, strict=True)
        if allowed
    ]
