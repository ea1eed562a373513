"""What retention would do now: consents past their period, payloads past theirs, categories nothing needs.

`survey` only reads. The enforcer (`gateway.retention.enforcer`) acts on a survey taken under its lease, and
`consentry retention plan` prints one. Every period is judged at the `Clock`'s now, never the system's, so a
test can move a customer's consents past their period without waiting.

- A consent lapses when the shortest consent period of its purposes has passed since it was last given or
  renewed (or at its own `valid_until`, if earlier).
- An access-log entry, a zero-knowledge answer or an export keeps its payload for its purpose's period of that
  kind, counted from the entry's time; a revoked receipt is kept for its purpose's receipt period after
  revocation.
- When a lapsed consent's purpose says `delete_at_source`, each of its categories that no live purpose covers
  any more for that customer (another live consent, or a purpose on a basis other than consent that the matrix
  allows for them) is sent to the source systems as a deletion request.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select

from credentials import CredentialService
from gateway.audit.event_index import EventIndex
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.clock import Clock
from gateway.rights.consents import matrix_flows
from gateway.settings import Settings
from gateway.store.customer_tables import consent_receipts
from gateway.store.tables import ledger_event_index
from gateway.upstream import UpstreamRegistry
from ledger.store import Ledger
from policies import ConsentRecord, LegalBasis, PolicyRuntime, RetentionAction, Taxonomy, retention_end

__all__ = [
    "PAYLOAD_KINDS",
    "Lapse",
    "PayloadExpiry",
    "ReceiptExpiry",
    "Retention",
    "SourceDeletion",
    "Survey",
    "lapse_at",
    "survey",
    "uncovered_categories",
]

# The ledger entries of each record kind whose payloads retention erases (their payload names the purpose).
PAYLOAD_KINDS: Mapping[str, tuple[str, ...]] = {
    "access_log": ("access", "access.check"),
    "zk_answers": ("zk.query",),
    "exports": ("access.portability",),
}
ALL = "*"


@dataclass(frozen=True)
class Retention:
    """What retention reads and changes: consents and their receipts, the ledger and its search index, source
    systems, customers; `clock` says what time it is for periods, `settings` the lease and batch sizes."""

    engine: Engine
    ledger: Ledger
    events: EventIndex
    policies: PolicyRuntime
    credentials: CredentialService
    customers: CustomerStore
    upstreams: UpstreamRegistry
    pseudonyms: Pseudonyms
    settings: Settings
    clock: Clock


@dataclass(frozen=True)
class Lapse:
    record: ConsentRecord
    purpose: str  # the purpose whose period ends first
    at: datetime
    delete_at_source: bool


@dataclass(frozen=True)
class PayloadExpiry:
    purpose: str
    kind: str
    before: datetime
    indices: tuple[int, ...]


@dataclass(frozen=True)
class ReceiptExpiry:
    purpose: str
    receipt_ids: tuple[str, ...]


@dataclass(frozen=True)
class SourceDeletion:
    customer: CustomerPrincipal
    purpose: str
    categories: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass
class Survey:
    at: datetime
    lapses: list[Lapse] = field(default_factory=list)
    payloads: list[PayloadExpiry] = field(default_factory=list)
    receipts: list[ReceiptExpiry] = field(default_factory=list)
    deletions: list[SourceDeletion] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        """Per purpose, how many of each action; per record kind for erased payloads."""
        purposes: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"lapse": 0, "erase_payload": 0, "delete_at_source": 0, "erase_payload_by_kind": {}}
        )
        for lapse in self.lapses:
            purposes[lapse.purpose]["lapse"] += 1
        for expiry in self.payloads:
            row = purposes[expiry.purpose]
            row["erase_payload"] += len(expiry.indices)
            row["erase_payload_by_kind"][expiry.kind] = row["erase_payload_by_kind"].get(expiry.kind, 0) + len(
                expiry.indices
            )
        for receipts in self.receipts:
            row = purposes[receipts.purpose]
            row["erase_payload"] += len(receipts.receipt_ids)
            row["erase_payload_by_kind"]["receipts"] = len(receipts.receipt_ids)
        for deletion in self.deletions:
            purposes[deletion.purpose]["delete_at_source"] += len(deletion.categories)
        totals = {
            action: sum(int(row[action]) for row in purposes.values())
            for action in ("lapse", "erase_payload", "delete_at_source")
        }
        return {"at": self.at.isoformat(), "purposes": dict(sorted(purposes.items())), "totals": totals}


def lapse_at(taxonomy: Taxonomy, record: ConsentRecord) -> tuple[datetime, str] | None:
    """When a live consent lapses and the purpose whose period ends it (None: no period applies): the end the
    decisions already honour (`policies.retention_end`), which the sweep then records as `consent.expired`."""
    return retention_end(taxonomy, record)


def _deletes_at_source(taxonomy: Taxonomy, record: ConsentRecord) -> bool:
    return any(
        RetentionAction.DELETE_AT_SOURCE in taxonomy.purposes[p].retention["consent"].actions
        for p in record.purposes
        if p in taxonomy.purposes and "consent" in taxonomy.purposes[p].retention
    )


def _leaves(taxonomy: Taxonomy, categories: Iterable[str]) -> list[str]:
    parents = {c.parent for c in taxonomy.categories.values() if c.parent is not None}
    out: dict[str, None] = {}
    for name in categories:
        chosen = taxonomy.categories.values() if name == ALL else taxonomy.descendants(name)
        out.update((c.id, None) for c in chosen if c.id not in parents)
    return list(out)


def uncovered_categories(
    policies: PolicyRuntime,
    customer: CustomerPrincipal,
    lapsed: Sequence[ConsentRecord],
    live: Sequence[ConsentRecord],
) -> tuple[str, ...]:
    """The lapsed consents' categories (as leaves) that no live purpose still covers for this customer."""
    tax = policies.taxonomy
    flows = [
        f
        for f in matrix_flows(policies)
        if f.customer_type == customer.customer_type
        and f.purpose in tax.purposes
        and tax.purposes[f.purpose].legal_basis.get(customer.jurisdiction) not in (None, LegalBasis.CONSENT)
    ]
    uncovered = []
    for leaf in _leaves(tax, (c for r in lapsed for c in r.categories)):
        lineage = tax.lineage(leaf)
        if any(r.covers_category(lineage) for r in live) or any(f.category in lineage for f in flows):
            continue
        uncovered.append(leaf)
    return tuple(uncovered)


def _sources_for(retention: Retention, categories: Sequence[str]) -> tuple[str, ...]:
    wanted = set(categories)
    return tuple(
        name
        for name in retention.upstreams.deleting()
        if wanted & set(retention.upstreams.config(name).field_map.categories)
    )


def _payloads(retention: Retention, now: datetime) -> list[PayloadExpiry]:
    table = ledger_event_index
    found = []
    with retention.engine.connect() as conn:
        for purpose in retention.policies.taxonomy.purposes.values():
            for kind, types in PAYLOAD_KINDS.items():
                rule = purpose.retention.get(kind)
                if rule is None:
                    continue
                before = now - timedelta(days=rule.days)
                indices = tuple(
                    int(i)
                    for i in conn.execute(
                        select(table.c.entry_index)
                        .where(and_(table.c.purpose == purpose.id, table.c.type.in_(types), table.c.time < before))
                        .order_by(table.c.entry_index)
                    ).scalars()
                )
                if indices:
                    found.append(PayloadExpiry(purpose.id, kind, before, indices))
    return found


def _receipts(retention: Retention, now: datetime) -> list[ReceiptExpiry]:
    tax = retention.policies.taxonomy
    with retention.engine.connect() as conn:
        revoked = conn.execute(
            select(consent_receipts.c.receipt_id, consent_receipts.c.record_id, consent_receipts.c.revoked_at).where(
                consent_receipts.c.revoked_at.is_not(None)
            )
        ).all()
    by_purpose: dict[str, list[str]] = defaultdict(list)
    records: dict[str, ConsentRecord] = {}
    for receipt_id, record_id, revoked_at in revoked:
        if record_id not in records:
            records[record_id] = retention.policies.consents.get(record_id)
        rules = [
            (tax.purposes[p].retention["receipts"].days, p)
            for p in records[record_id].purposes
            if p in tax.purposes and "receipts" in tax.purposes[p].retention
        ]
        if not rules:
            continue
        days, purpose = min(rules)
        moment = revoked_at if revoked_at.tzinfo else revoked_at.replace(tzinfo=now.tzinfo)
        if moment + timedelta(days=days) <= now:
            by_purpose[purpose].append(str(receipt_id))
    return [ReceiptExpiry(p, tuple(ids)) for p, ids in sorted(by_purpose.items())]


def survey(retention: Retention) -> Survey:
    """Everything due at the clock's now. The event index is brought up to date first (it is how payloads are
    found by purpose and age)."""
    now = retention.clock.now()
    tax = retention.policies.taxonomy
    found = Survey(now)
    live = retention.policies.consents.live()
    for record in live:
        end = lapse_at(tax, record)
        if end is not None and end[0] <= now:
            found.lapses.append(Lapse(record, end[1], end[0], _deletes_at_source(tax, record)))
    lapsing = {lapse.record.record_id for lapse in found.lapses}
    by_customer: dict[str, list[Lapse]] = defaultdict(list)
    for lapse in found.lapses:
        if lapse.delete_at_source:
            by_customer[lapse.record.subject_id].append(lapse)
    for customer_id, lapses in by_customer.items():
        customer = retention.customers.get(customer_id)
        if customer is None or customer.source_subject is None:
            continue
        remaining = [r for r in live if r.subject_id == customer_id and r.record_id not in lapsing]
        categories = uncovered_categories(retention.policies, customer, [lapse.record for lapse in lapses], remaining)
        sources = _sources_for(retention, categories)
        if categories and sources:
            found.deletions.append(SourceDeletion(customer, lapses[0].purpose, categories, sources))
    retention.events.catch_up()
    found.payloads = _payloads(retention, now)
    found.receipts = _receipts(retention, now)
    return found
