"""Value for data as the customer sees it and spends it: offers, balance, redemptions, donations, priority access.

Shared by `/v1/me/points` and the portal's value page so both say the same. Donations matched for the customer's
uses are counted from the recorded uses (one row per use, written with its ledger entry) times the offer's amount;
priority access holds while the customer's consent to a purpose offering it is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.principals import CustomerPrincipal
from gateway.rights import consents
from gateway.rights.errors import InsufficientBalance, InvalidRedemption
from gateway.rights.points import InsufficientPoints, points_balance, points_history, redeem
from ledger.store import Ledger
from policies import PolicyRuntime

__all__ = ["Value", "redeem_item", "value_summary"]


@dataclass(frozen=True)
class Value:
    engine: Engine
    ledger: Ledger
    policies: PolicyRuntime
    pseudonyms: Pseudonyms


def value_summary(value: Value, customer: CustomerPrincipal, lang: str = "en") -> dict[str, Any]:
    """Balance, history (accruals and redemptions), the catalogue, matched donations and priority access."""
    taxonomy = value.policies.taxonomy
    history = points_history(value.engine, customer.customer_id, limit=1000)
    donations: dict[str, dict[str, Any]] = {}
    for entry in history:
        purpose = taxonomy.purposes.get(entry.purpose)
        offer = purpose.value_offer if purpose is not None else None
        if offer is None or not offer.donation_per_use or offer.donation_beneficiary is None:
            continue
        matched = donations.setdefault(
            entry.purpose,
            {
                "beneficiary": offer.donation_beneficiary.get(lang),
                "currency": offer.donation_currency,
                "per_use": offer.donation_per_use,
                "uses": 0,
                "total": 0,
            },
        )
        matched["uses"] += 1
        matched["total"] += offer.donation_per_use
    live = {
        p
        for record in consents.records(value.policies, customer)
        if record.status.value in ("given", "renewed")
        for p in record.purposes
    }
    priority = [
        {"purpose": p.id, "feature": p.value_offer.priority_access.get(lang), "active": p.id in live}
        for p in taxonomy.purposes.values()
        if p.value_offer is not None and p.value_offer.priority_access is not None
    ]
    return {
        "balance": points_balance(value.engine, customer.customer_id),
        "history": [
            {
                "ledger_index": e.ledger_index,
                "purpose": e.purpose,
                "recipient": e.recipient,
                "points": e.points,
                "time": e.time.isoformat(),
            }
            for e in history
        ],
        "catalogue": [
            {"id": i.id, "label": i.label.get(lang), "points": i.points} for i in taxonomy.catalogue.values()
        ],
        "donations": list(donations.values()),
        "priority_access": priority,
    }


def redeem_item(value: Value, customer: CustomerPrincipal, item_id: str) -> dict[str, Any]:
    """Spend points on a catalogue item; the redemption is a ledger entry with the balance after it."""
    item = value.policies.taxonomy.catalogue.get(item_id)
    if item is None:
        raise InvalidRedemption(f"The catalogue has no item {item_id!r}.")
    try:
        index, balance = redeem(
            value.ledger,
            value.engine,
            customer_id=customer.customer_id,
            subject=value.pseudonyms(customer.customer_id),
            actor=customer.actor,
            item=item.id,
            price=item.points,
        )
    except InsufficientPoints as exc:
        raise InsufficientBalance(f"Not enough points: {exc}.") from None
    return {"item": item.id, "points": item.points, "balance": balance, "ledger_index": index}
