"""The demo's people: customers of the vehicle cloud, the partner systems that want their data, and consents.

Seeded through the same stores the gateway uses (customer accounts, OAuth client registry, consent store
whose grants are ledger entries), so the demo exercises exactly what production would. Passwords and client
secrets are random per seeding and handed back to be printed, never fixed in the repository.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from gateway.demo.fleet import fleet_members
from gateway.demo.partners import DEMO_LINKS
from gateway.rights import guardians
from gateway.rights.consents import current_agreement
from gateway.runtime import Runtime

__all__ = [
    "DEMO_CLIENTS",
    "DEMO_CONSENTS",
    "DEMO_GUARDIANS",
    "DEMO_PEOPLE",
    "DemoClient",
    "DemoCustomer",
    "DemoGuardian",
    "DemoWorld",
    "seed_demo",
]


@dataclass(frozen=True)
class DemoCustomer:
    source_subject: str
    username: str
    display_name: str
    jurisdiction: str
    customer_type: str


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    name: str
    organization: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    purposes: tuple[str, ...] = ()


SEED_ACTOR = "demo:seed"  # how the seeding's authorization actions appear in the ledger

# The vehicle cloud's records (gateway.demo.vehicle_cloud), enrolled as gateway customers.
DEMO_PEOPLE = (
    DemoCustomer("cust-1001", "li.wei", "Li Wei", "CN", "standard"),
    DemoCustomer("cust-1002", "anna.schmidt", "Anna Schmidt", "DE", "standard"),
    DemoCustomer("cust-1003", "zhang.min", "Zhang Min", "CN", "vip"),
    DemoCustomer("cust-1004", "wang.xiaoming", "Wang Xiaoming", "CN", "minor"),
    # Under the CCPA marketing rests on notice: no consents on file, an opt-out (or a GPC signal) stops it.
    DemoCustomer("cust-1005", "emily.carter", "Emily Carter", "US-CA", "standard"),
)


@dataclass(frozen=True)
class DemoGuardian:
    """An adult account linked as a minor's guardian (no record in any source system)."""

    username: str
    display_name: str
    jurisdiction: str
    ward: str  # the minor's username


DEMO_GUARDIANS = (DemoGuardian("wang.jun", "Wang Jun", "CN", "wang.xiaoming"),)

# Organizations are the taxonomy's recipients (policies/data/taxonomy.yaml), so the matrix applies to them.
DEMO_CLIENTS = (
    DemoClient(
        "dealer",
        "Acme Pudong 4S Dealership",
        "dealer-sh-4s",
        ("crm",),
        ("proxy", "zk"),
        ("service_delivery", "repair_prediction", "recall_notice"),
    ),
    DemoClient(
        "finance",
        "Acme Auto Finance",
        "acme-finance",
        ("crm",),
        ("proxy", "zk"),
        ("financial_product_recommendation",),
    ),
    DemoClient("marketing", "Bright Marketing Agency", "bright-marketing", ("crm",), ("proxy",), ("marketing",)),
    DemoClient(
        "rnd", "Stuttgart Automotive Research", "stuttgart-rnd", ("crm",), ("proxy", "zk", "analytics"), ("joint_rnd",)
    ),
    DemoClient("auditor", "External auditor", "audit-firm", ("auditor",), ("ledger:read",)),
)

# Purpose -> (categories, recipients) every adult customer consented to; R&D goes abroad (PIPL Art. 39).
DEMO_CONSENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "repair_prediction": (("vehicle", "contact.phone"), ("role:dealer",)),
    "marketing": (("contact", "identity.name", "location.city"), ("org:bright-marketing",)),
    "joint_rnd": (("vehicle", "behavior.driving", "location.precise"), ("org:stuttgart-rnd",)),
}

# The language each demo customer read the agreement in.
_READS = {"CN": "zh-CN", "DE": "en"}


@dataclass
class DemoWorld:
    """What the demo printout needs: who can sign in with what, and which consent records exist."""

    passwords: dict[str, str] = field(default_factory=dict)  # username -> password
    customer_ids: dict[str, str] = field(default_factory=dict)  # source subject -> gateway customer id
    client_secrets: dict[str, str] = field(default_factory=dict)  # client id -> secret
    consents: dict[tuple[str, str], str] = field(default_factory=dict)  # (source subject, purpose) -> record id


def seed_demo(runtime: Runtime, *, fleet: bool = False) -> DemoWorld:
    """Enrol the demo customers and clients and record their consents; run once on a fresh database.

    `fleet` also enrols the demo fleet (`gateway.demo.fleet`), each of whom consented to the R&D partner's use
    of their vehicle data: the cohort the partner's anonymous statistics are computed over."""
    world = DemoWorld()
    for client in DEMO_CLIENTS:
        _, secret = runtime.clients.register(
            client_id=client.client_id,
            name=client.name,
            organization=client.organization,
            roles=client.roles,
            scopes=client.scopes,
            allowed_purposes=client.purposes,
            jurisdiction="CN",
            actor=SEED_ACTOR,
        )
        assert secret is not None  # client_secret_basic always yields a secret
        world.client_secrets[client.client_id] = secret
    consents = runtime.policies.consents
    for person in DEMO_PEOPLE:
        password = secrets.token_urlsafe(12)
        customer = runtime.customers.create(
            username=person.username,
            password=password,
            display_name=person.display_name,
            jurisdiction=person.jurisdiction,
            customer_type=person.customer_type,
            source_subject=person.source_subject,
            actor=SEED_ACTOR,
        )
        world.passwords[person.username] = password
        world.customer_ids[person.source_subject] = customer.customer_id
        # The unified index: which identifier each source system uses for this customer.
        for source, identifier in DEMO_LINKS[person.source_subject].items():
            runtime.identities.link(customer.customer_id, source, identifier, actor=SEED_ACTOR)
        if person.customer_type == "minor" or person.jurisdiction == "US-CA":
            continue  # the minor's guardian decides (below); the Californian's marketing rests on notice
        for purpose, (categories, recipients) in DEMO_CONSENTS.items():
            record = consents.grant(
                subject_id=customer.customer_id,
                purposes=[purpose],
                categories=list(categories),
                recipients=list(recipients),
                jurisdiction=person.jurisdiction,
                actor=f"customer:{customer.customer_id}",
                method="portal",
                cross_border=purpose == "joint_rnd" and person.jurisdiction != "DE",
                # the agreement they read, so the consent covers what it listed and no more (issue 14)
                notice=current_agreement(
                    runtime.policies, person.jurisdiction, _READS[person.jurisdiction], person.customer_type
                ).notice,
            )
            world.consents[(person.source_subject, purpose)] = record.record_id
    for guardian in DEMO_GUARDIANS:
        password = secrets.token_urlsafe(12)
        runtime.customers.create(
            username=guardian.username,
            password=password,
            display_name=guardian.display_name,
            jurisdiction=guardian.jurisdiction,
            actor=SEED_ACTOR,
        )
        world.passwords[guardian.username] = password
        guardians.link(
            runtime.policies, runtime.customers, minor=guardian.ward, guardian=guardian.username, actor="demo"
        )
    if fleet:
        _seed_fleet(runtime, world)
    return world


def _seed_fleet(runtime: Runtime, world: DemoWorld) -> None:
    categories, recipients = DEMO_CONSENTS["joint_rnd"]
    for member in fleet_members():
        customer = runtime.customers.create(
            username=f"fleet.{member.subject[-4:]}",
            password=None,  # the fleet does not sign in during the demo
            display_name=f"Fleet Customer {member.subject[-4:]}",
            jurisdiction=member.jurisdiction,
            source_subject=member.subject,
            actor=SEED_ACTOR,
        )
        world.customer_ids[member.subject] = customer.customer_id
        record = runtime.policies.consents.grant(
            subject_id=customer.customer_id,
            purposes=["joint_rnd"],
            categories=list(categories),
            recipients=list(recipients),
            jurisdiction=member.jurisdiction,
            actor=f"customer:{customer.customer_id}",
            method="portal",
            cross_border=member.jurisdiction != "DE",
        )
        world.consents[(member.subject, "joint_rnd")] = record.record_id
