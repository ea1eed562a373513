"""Told in advance: per live consent, when it lapses and what is deleted then; renewal in one click.

What the portal (and `/v1/me/retention`) shows is computed from the same taxonomy plan and clock the enforcer uses
(`plan.lapse_at`, `plan.uncovered_categories`), so the date shown is the date the enforcer acts on. A consent
within `retention_notice_days` of lapsing carries a notice; renewing restarts its period from now (a `renewed`
consent event and, when the record cites a notice, a fresh receipt).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.auth.principals import CustomerPrincipal
from gateway.retention.plan import PAYLOAD_KINDS, Retention, lapse_at, uncovered_categories
from gateway.rights.consents import ConsentChange
from gateway.rights.errors import ConsentStateConflict, NotFoundError
from gateway.rights.receipts import ensure_customer_did, issuing_effect
from gateway.rights.rfc3339 import rfc3339
from policies import ConsentError, ConsentStatus, RecordKind, RetentionAction

__all__ = ["ConsentLapse", "renew", "schedule"]

_LIVE = (ConsentStatus.GIVEN, ConsentStatus.RENEWED)
# What the customer is told is erased, per record kind, in the order shown.
_KINDS = (*PAYLOAD_KINDS, "receipts")


@dataclass(frozen=True)
class ConsentLapse:
    record_id: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    lapses_at: datetime
    days_left: int
    notice: bool  # within the notice period: tell the customer and offer renewal
    erased_after: dict[str, int]  # record kind -> days its payloads are kept (the shortest among the purposes)
    deleted_at_source: tuple[str, ...]  # categories the source systems are asked to delete when it lapses

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "purposes": list(self.purposes),
            "categories": list(self.categories),
            "lapses_at": rfc3339(self.lapses_at),
            "days_left": self.days_left,
            "notice": self.notice,
            "erased_after_days": self.erased_after,
            "deleted_at_source": list(self.deleted_at_source),
        }


def schedule(retention: Retention, customer: CustomerPrincipal) -> list[ConsentLapse]:
    """The customer's live consents that lapse, soonest first."""
    now = retention.clock.now()
    tax = retention.policies.taxonomy
    mine = [
        r
        for r in retention.policies.consents.records(customer.customer_id)
        if r.kind is RecordKind.CONSENT and r.status in _LIVE
    ]
    out = []
    for record in mine:
        end = lapse_at(tax, record)
        if end is None:
            continue
        rules = [tax.purposes[p].retention for p in record.purposes if p in tax.purposes]
        erased = {
            kind: min(plan[kind].days for plan in rules if kind in plan)
            for kind in _KINDS
            if any(kind in plan for plan in rules)
        }
        deletes = any(
            RetentionAction.DELETE_AT_SOURCE in plan["consent"].actions for plan in rules if "consent" in plan
        )
        others = [r for r in mine if r.record_id != record.record_id]
        at_source = uncovered_categories(retention.policies, customer, [record], others) if deletes else ()
        days_left = max(0, (end[0] - now).days)
        out.append(
            ConsentLapse(
                record_id=record.record_id,
                purposes=record.purposes,
                categories=record.categories,
                lapses_at=end[0],
                days_left=days_left,
                notice=end[0] - now <= timedelta(days=retention.settings.retention_notice_days),
                erased_after=erased,
                deleted_at_source=at_source,
            )
        )
    return sorted(out, key=lambda lapse: lapse.lapses_at)


def renew(retention: Retention, customer: CustomerPrincipal, record_id: str) -> ConsentChange:
    """One click: the consent's period starts again now, on the same terms (scope and notice)."""
    consents = retention.policies.consents
    try:
        record = consents.get(record_id)
    except ConsentError:
        raise NotFoundError("consent record") from None
    if record.subject_id != customer.customer_id or record.kind is not RecordKind.CONSENT:
        raise NotFoundError("consent record")
    if record.status not in _LIVE:
        raise ConsentStateConflict(f"This consent is {record.status.value}; give it again instead of renewing it.")
    issued: list[dict[str, Any]] = []
    effect = None
    if record.notice is not None:
        did = ensure_customer_did(retention.customers, customer)
        effect = issuing_effect(retention.credentials, retention.policies.taxonomy, customer.customer_id, did, issued)
    now = retention.clock.now()
    # an end the customer chose themselves stays; the retention period starts again
    until = record.valid_until if record.valid_until is not None and record.valid_until > now else None
    try:
        renewed = consents.renew(record_id, actor=customer.actor, valid_until=until, at=now, effects=effect)
    except ConsentError as exc:
        raise ConsentStateConflict(str(exc)) from exc
    return ConsentChange(renewed, issued[0] if issued else None, action="renewed")
