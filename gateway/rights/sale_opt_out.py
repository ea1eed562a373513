"""The CCPA/CPRA choices: "Do Not Sell or Share My Personal Information" (Cal. Civ. Code 1798.120), "Limit the
Use of My Sensitive Personal Information" (1798.121), and the Global Privacy Control signal that exercises the
first one for the customer (`Sec-GPC: 1`, 11 CCR 7025).

Each choice is a record of the consent store (kind `opt_out` or `limit_sensitive`, every category, any recipient),
so it is a ledger entry, the decision engine reads it on the very next proxied read, and changing one's mind is a
withdrawal of the record. They apply where the taxonomy's jurisdiction has `opt_out_of_sale` (US-CA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth.principals import CustomerPrincipal
from gateway.rights import refusals
from gateway.rights.errors import InvalidConsentRequest
from gateway.rights.rfc3339 import rfc3339
from policies import CollectionMethod, ConsentRecord, PolicyRuntime, RecordKind

GPC_HEADER = "Sec-GPC"


def applies(policies: PolicyRuntime, customer: CustomerPrincipal) -> bool:
    """Whether the customer's law gives these choices (an unknown jurisdiction gives none)."""
    jur = policies.taxonomy.jurisdictions.get(customer.jurisdiction)
    return jur is not None and jur.opt_out_of_sale


def _scope(policies: PolicyRuntime, kind: RecordKind) -> tuple[str, ...]:
    """The purposes a choice covers: selling or sharing for an opt-out, every purpose for a limit (the engine
    then refuses only the sensitive categories, and only to uses the service does not need)."""
    tax = policies.taxonomy
    if kind is RecordKind.OPT_OUT:
        return tuple(p.id for p in tax.purposes.values() if p.sale_or_share)
    return tuple(tax.purposes)


def _mine(policies: PolicyRuntime, customer: CustomerPrincipal, kind: RecordKind) -> list[ConsentRecord]:
    return refusals.records_of(policies, customer, kind, _scope(policies, kind))


@dataclass(frozen=True)
class Choices:
    applies: bool
    do_not_sell: ConsentRecord | None
    limit_sensitive: ConsentRecord | None

    def to_dict(self) -> dict[str, Any]:
        def view(record: ConsentRecord | None) -> dict[str, Any] | None:
            if record is None:
                return None
            return {
                "record_id": record.record_id,
                "since": rfc3339(record.valid_from),
                "method": record.method.value,
                "ledger_index": record.ledger_index,
            }

        return {
            "applies": self.applies,
            "do_not_sell_or_share": view(self.do_not_sell),
            "limit_sensitive": view(self.limit_sensitive),
        }


def choices(policies: PolicyRuntime, customer: CustomerPrincipal) -> Choices:
    if not applies(policies, customer):
        return Choices(False, None, None)
    return Choices(
        True,
        refusals.active_of(_mine(policies, customer, RecordKind.OPT_OUT)),
        refusals.active_of(_mine(policies, customer, RecordKind.LIMIT_SENSITIVE)),
    )


def choose(
    policies: PolicyRuntime,
    customer: CustomerPrincipal,
    kind: RecordKind,
    on: bool,
    *,
    method: CollectionMethod = CollectionMethod.PORTAL,
    actor: str | None = None,
) -> ConsentRecord | None:
    """Turn one choice on (a new or re-given record) or off (its withdrawal); the active record afterwards.

    Choosing what is already chosen writes nothing."""
    if not applies(policies, customer):
        raise InvalidConsentRequest(
            f"The law of your jurisdiction ({customer.jurisdiction}) gives no opt-out of selling or sharing."
        )
    return refusals.toggle(policies, customer, kind, _scope(policies, kind), on, method=method, actor=actor)


def honour_gpc(policies: PolicyRuntime, customer: CustomerPrincipal, signal: str | None) -> ConsentRecord | None:
    """A request carrying `Sec-GPC: 1` is the customer's opt-out of selling and sharing (11 CCR 7025(b)): recorded
    once, as method `gpc`, where the customer's law gives that opt-out; None when nothing was recorded."""
    if signal is None or signal.strip() != "1" or not applies(policies, customer):
        return None
    if refusals.active_of(_mine(policies, customer, RecordKind.OPT_OUT)) is not None:
        return None
    return choose(policies, customer, RecordKind.OPT_OUT, True, method=CollectionMethod.GPC)
