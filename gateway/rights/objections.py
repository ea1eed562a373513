"""Objection (GDPR Art. 21, PIPL Art. 44) to a use that rests on a legitimate or public interest, and restriction
of processing (GDPR Art. 18, PIPL Art. 44): the refusals a customer can make of uses that need no consent.

An objection names one purpose; a restriction covers every purpose (the engine then refuses each use resting on a
contract, a legitimate interest or a notice). Both are records of the consent store (`gateway.rights.refusals`),
so each is a ledger entry obeyed by the next proxied read, and lifting one is its withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth.principals import CustomerPrincipal
from gateway.rights import refusals
from gateway.rights.errors import InvalidConsentRequest
from gateway.rights.rfc3339 import rfc3339
from policies import ConsentRecord, PolicyRuntime, RecordKind


@dataclass(frozen=True)
class Objectable:
    """A purpose the customer may object to, and their objection to it if one stands."""

    purpose: str
    legal_basis: str
    objection: ConsentRecord | None


def _view(record: ConsentRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"record_id": record.record_id, "since": rfc3339(record.valid_from), "ledger_index": record.ledger_index}


def objectable(policies: PolicyRuntime, customer: CustomerPrincipal) -> list[Objectable]:
    """Every purpose resting, for this customer, on a basis their law lets them object to (none where the law
    gives no such right or the jurisdiction is unknown)."""
    tax = policies.taxonomy
    jur = tax.jurisdictions.get(customer.jurisdiction)
    if jur is None or customer.customer_type not in tax.customer_types:
        return []
    out = []
    for purpose in tax.purposes:
        basis = tax.legal_basis(purpose, jur.id, customer.customer_type)
        if basis is not None and basis in jur.objection_to:
            standing = refusals.active_of(refusals.records_of(policies, customer, RecordKind.OBJECTION, [purpose]))
            out.append(Objectable(purpose, basis.value, standing))
    return out


def object_to(
    policies: PolicyRuntime, customer: CustomerPrincipal, purpose: str, on: bool, *, actor: str | None = None
) -> ConsentRecord | None:
    """Object to a purpose (or withdraw the objection); refused for a purpose one cannot object to."""
    if purpose not in {o.purpose for o in objectable(policies, customer)}:
        raise InvalidConsentRequest(
            f"{purpose!r} does not rest on a legitimate or public interest under your law: withdraw your consent "
            "to it instead, or restrict processing."
        )
    return refusals.toggle(policies, customer, RecordKind.OBJECTION, [purpose], on, actor=actor)


def can_restrict(policies: PolicyRuntime, customer: CustomerPrincipal) -> bool:
    jur = policies.taxonomy.jurisdictions.get(customer.jurisdiction)
    return jur is not None and jur.restriction_of_processing


def restriction(policies: PolicyRuntime, customer: CustomerPrincipal) -> ConsentRecord | None:
    """The customer's standing restriction, if any."""
    if not can_restrict(policies, customer):
        return None
    purposes = tuple(policies.taxonomy.purposes)
    return refusals.active_of(refusals.records_of(policies, customer, RecordKind.RESTRICTION, purposes))


def restrict(
    policies: PolicyRuntime, customer: CustomerPrincipal, on: bool, *, actor: str | None = None
) -> ConsentRecord | None:
    """Restrict processing of every purpose (or lift the restriction)."""
    if not can_restrict(policies, customer):
        raise InvalidConsentRequest(f"The law of your jurisdiction ({customer.jurisdiction}) gives no restriction.")
    purposes = tuple(policies.taxonomy.purposes)
    return refusals.toggle(policies, customer, RecordKind.RESTRICTION, purposes, on, actor=actor)


def overview(policies: PolicyRuntime, customer: CustomerPrincipal) -> dict[str, Any]:
    """What the REST API and the portal show: the objectable purposes and the restriction."""
    return {
        "objections": [
            {"purpose": o.purpose, "legal_basis": o.legal_basis, "objection": _view(o.objection)}
            for o in objectable(policies, customer)
        ],
        "restriction_available": can_restrict(policies, customer),
        "restriction": _view(restriction(policies, customer)),
    }
