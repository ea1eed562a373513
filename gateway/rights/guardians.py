"""Guardians: the account that decides for a minor, and the rule that a minor does not decide alone.

PIPL Art. 31 (under 14), GDPR Art. 8 (16, or a member state's 13 to 16) and CCPA 1798.120(c) (a parent under
13; an opt-in to selling or sharing under 16): the ages live in the taxonomy (`Jurisdiction.minors`), a minor is a
customer whose taxonomy type is a minor's. The administrator links a guardian account to a minor; the link and its
removal are ledger entries naming both by pseudonym. The guardian then gives and withdraws consent on the minor's
behalf through the same consent service as everyone else: the record says `given_by: guardian` and the ledger
entry's actor is `guardian:<the guardian's pseudonym>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from gateway.auth import guardians as links
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.rights.errors import InvalidGuardianship, NotFoundError
from ledger import Event
from policies import PolicyRuntime, Taxonomy

GUARDIAN_ACTOR_PREFIX = "guardian:"


def is_minor(taxonomy: Taxonomy, customer: CustomerPrincipal) -> bool:
    """Whether a guardian decides for this customer (an unknown type decides nothing: it is no minor's)."""
    found = taxonomy.customer_types.get(customer.customer_type)
    return found is not None and found.minor


def guardian_actor(policies: PolicyRuntime, guardian: CustomerPrincipal) -> str:
    """How a guardian's act appears in consent histories and ledger entries: by pseudonym, never by account id."""
    return GUARDIAN_ACTOR_PREFIX + policies.consents.pseudonym(guardian.customer_id)


@dataclass(frozen=True)
class WhoDecides:
    """What a minor's pages explain: the law, the age below which a guardian decides, and the guardians."""

    law: str
    age: int | None
    guardians: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "guardian_consent_below": self.age, "guardians": list(self.guardians)}


def who_decides(policies: PolicyRuntime, customers: CustomerStore, minor: CustomerPrincipal) -> WhoDecides:
    jur = policies.taxonomy.jurisdictions.get(minor.jurisdiction)
    rules = jur.minors if jur is not None else None
    names = tuple(g.display_name for g in links.guardians_of(customers.engine, minor.customer_id))
    law = jur.law if jur is not None else minor.jurisdiction
    return WhoDecides(law, rules.guardian_age() if rules else None, names)


def ward(customers: CustomerStore, guardian: CustomerPrincipal, minor_id: str) -> CustomerPrincipal:
    """The minor a signed-in guardian acts for; any id they are not linked to answers like an absent one."""
    if not links.is_linked(customers.engine, guardian.customer_id, minor_id):
        raise NotFoundError("minor in your care")
    minor = customers.get(minor_id)
    if minor is None:
        raise NotFoundError("minor in your care")
    return minor


def wards(customers: CustomerStore, guardian: CustomerPrincipal) -> list[CustomerPrincipal]:
    return links.wards_of(customers.engine, guardian.customer_id)


def _pair(
    policies: PolicyRuntime, customers: CustomerStore, minor_name: str, guardian_name: str
) -> tuple[CustomerPrincipal, CustomerPrincipal]:
    """Both accounts, by username or customer id; refuses a link the law does not call for."""
    minor = customers.by_username(minor_name) or customers.get(minor_name)
    guardian = customers.by_username(guardian_name) or customers.get(guardian_name)
    if minor is None:
        raise NotFoundError(f"customer {minor_name!r}")
    if guardian is None:
        raise NotFoundError(f"customer {guardian_name!r}")
    if minor.customer_id == guardian.customer_id:
        raise InvalidGuardianship("A customer cannot be their own guardian.")
    tax = policies.taxonomy
    if not is_minor(tax, minor):
        raise InvalidGuardianship(
            f"{minor.username} is enrolled as {minor.customer_type!r}, not as a minor: they decide for themselves."
        )
    if is_minor(tax, guardian):
        raise InvalidGuardianship(f"{guardian.username} is a minor and cannot be a guardian.")
    return minor, guardian


def link(policies: PolicyRuntime, customers: CustomerStore, *, minor: str, guardian: str, actor: str) -> dict[str, Any]:
    """Link a guardian to a minor (usernames or ids); a ledger entry, written with the link in one transaction."""
    ward_, keeper = _pair(policies, customers, minor, guardian)
    if links.is_linked(customers.engine, keeper.customer_id, ward_.customer_id):
        return _link_view(policies, ward_, keeper, None, linked=True)
    now = datetime.now(UTC)
    event = Event(
        type="guardian.linked",
        actor=actor,
        subject=policies.consents.pseudonym(ward_.customer_id),
        payload={"guardian": policies.consents.pseudonym(keeper.customer_id)},
        time=now,
    )
    index = policies.ledger.append(
        event, effects=lambda conn, i: links.insert_link(conn, ward_.customer_id, keeper.customer_id, now, i)
    )
    return _link_view(policies, ward_, keeper, index, linked=True)


def unlink(
    policies: PolicyRuntime, customers: CustomerStore, *, minor: str, guardian: str, actor: str
) -> dict[str, Any]:
    """End a guardianship; from the next request the former guardian cannot act for the minor."""
    ward_ = customers.by_username(minor) or customers.get(minor)
    keeper = customers.by_username(guardian) or customers.get(guardian)
    if ward_ is None or keeper is None or not links.is_linked(customers.engine, keeper.customer_id, ward_.customer_id):
        raise NotFoundError("guardianship")
    event = Event(
        type="guardian.unlinked",
        actor=actor,
        subject=policies.consents.pseudonym(ward_.customer_id),
        payload={"guardian": policies.consents.pseudonym(keeper.customer_id)},
        time=datetime.now(UTC),
    )

    def remove(conn: Connection, _: int) -> None:
        links.delete_link(conn, ward_.customer_id, keeper.customer_id)

    index = policies.ledger.append(event, effects=remove)
    return _link_view(policies, ward_, keeper, index, linked=False)


def _link_view(
    policies: PolicyRuntime, minor: CustomerPrincipal, guardian: CustomerPrincipal, index: int | None, *, linked: bool
) -> dict[str, Any]:
    return {
        "minor": {"customer_id": minor.customer_id, "username": minor.username},
        "guardian": {
            "customer_id": guardian.customer_id,
            "username": guardian.username,
            "pseudonym": policies.consents.pseudonym(guardian.customer_id),
        },
        "linked": linked,
        "ledger_index": index,
    }
