"""A customer's standing refusals as records of the consent store: an opt-out of sale (CCPA), a limit on sensitive
data (CPRA), an objection (GDPR Art. 21, PIPL Art. 44) or a restriction (GDPR Art. 18). Each covers every category
and any recipient for a set of purposes; turning one on gives a record (or gives a withdrawn one again), turning it
off withdraws it, so each change is a ledger entry the decision engine reads on the very next decision.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from gateway.auth.principals import CustomerPrincipal
from gateway.events.changes import PROCESSING_RESTRICTED, consent_effect
from policies import CollectionMethod, ConsentRecord, ConsentStatus, PolicyRuntime, RecordKind
from policies.consent import ALL_CATEGORIES, ANY_RECIPIENT


def records_of(
    policies: PolicyRuntime, customer: CustomerPrincipal, kind: RecordKind, purposes: Collection[str]
) -> list[ConsentRecord]:
    """The customer's records of this refusal over exactly these purposes, newest first."""
    scope = set(purposes)
    found = [
        r
        for r in policies.consents.records(customer.customer_id)
        if r.kind is kind
        and set(r.purposes) == scope
        and r.categories == (ALL_CATEGORIES,)
        and r.recipients == (ANY_RECIPIENT,)
        and r.status is not ConsentStatus.INVALIDATED
    ]
    return sorted(found, key=lambda r: r.event_time, reverse=True)


def active_of(records: list[ConsentRecord]) -> ConsentRecord | None:
    now = datetime.now(UTC)
    return next((r for r in records if r.active_at(now)), None)


def toggle(
    policies: PolicyRuntime,
    customer: CustomerPrincipal,
    kind: RecordKind,
    purposes: Collection[str],
    on: bool,
    *,
    method: CollectionMethod = CollectionMethod.PORTAL,
    actor: str | None = None,
) -> ConsentRecord | None:
    """Turn the refusal on or off; the active record afterwards. Asking for what already holds writes nothing."""
    who = actor or customer.actor
    records = records_of(policies, customer, kind, purposes)
    store = policies.consents
    if not on:
        for record in records:
            if record.status in (ConsentStatus.GIVEN, ConsentStatus.RENEWED):
                store.withdraw(record.record_id, actor=who)
        return None
    active = active_of(records)
    if active is not None:
        return active
    # A restriction the recipients must honour too: they are told in the refusal's own transaction.
    restricted = consent_effect(policies.taxonomy, PROCESSING_RESTRICTED)
    if records and records[0].method is method:
        return store.give_again(records[0].record_id, actor=who, effects=restricted)
    return store.grant(
        subject_id=customer.customer_id,
        purposes=list(purposes),
        categories=[ALL_CATEGORIES],
        recipients=[ANY_RECIPIENT],
        jurisdiction=customer.jurisdiction,
        actor=who,
        kind=kind,
        method=method,
        effects=restricted,
    )
