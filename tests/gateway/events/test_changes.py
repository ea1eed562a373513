"""Which changes become events, for whom: every producer in `gateway.events.changes`, through the rights services.

A consent that retention finds lapsed is recorded as expired with its recipients told; a withdrawal tells exactly the
organizations its record named; a rectification tells the customer's recipients which category changed, never
the value; webhooks only get the types they asked for. All in the change's own ledger transaction.
"""

from __future__ import annotations

import asyncio
import json
import typing
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.auth.principals import ClientPrincipal, Role
from gateway.demo.registry import demo_upstreams
from gateway.demo.seed import seed_demo
from gateway.events import EVENT_TYPES
from gateway.retention import run_retention
from gateway.rights import consents, rectification, sale_opt_out
from gateway.routers.events import EventType
from gateway.runtime import Runtime
from gateway.store.federation_tables import change_events, event_deliveries, webhooks
from gateway.upstream import UpstreamRegistry
from policies import RecordKind


def _client(organization: str) -> ClientPrincipal:
    return ClientPrincipal(
        client_id=f"{organization}-crm",
        organization=organization,
        roles=frozenset({Role.CRM}),
        scopes=frozenset({"proxy"}),
        allowed_purposes=frozenset(),
        jurisdiction="CN",
        token_id="t",
        token_expires_at=0,
    )


def _queued(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(event type, customer id, webhook organization) of every queued delivery, in order."""
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(change_events.c.type, change_events.c.customer_id, webhooks.c.organization)
            .join(event_deliveries, event_deliveries.c.event_seq == change_events.c.seq)
            .join(webhooks, webhooks.c.webhook_id == event_deliveries.c.webhook_id)
            .order_by(change_events.c.seq)
        ).all()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def test_the_webhook_api_offers_exactly_the_event_types_produced() -> None:
    assert typing.get_args(EventType) == EVENT_TYPES


def test_withdrawal_tells_the_named_organizations_for_the_types_they_asked(runtime: Runtime) -> None:
    world = seed_demo(runtime)
    hooks = runtime.webhooks
    hooks.register(_client("bright-marketing"), "https://agency.example/events", ["consent.withdrawn"])
    hooks.register(_client("stuttgart-rnd"), "https://rnd.example/events", ["erasure.requested"])
    li = runtime.customers.get(world.customer_ids["cust-1001"])
    assert li is not None
    consents.withdraw(runtime.policies, runtime.credentials, li, world.consents[("cust-1001", "marketing")])
    consents.withdraw(runtime.policies, runtime.credentials, li, world.consents[("cust-1001", "joint_rnd")])
    # marketing named org:bright-marketing (told); joint_rnd named org:stuttgart-rnd, which asked only for erasures
    assert _queued(runtime) == [("consent.withdrawn", li.customer_id, "bright-marketing")]
    with runtime.engine.connect() as conn:
        bodies = [json.loads(b) for b in conn.execute(select(change_events.c.body)).scalars()]
    assert [b["data"]["purposes"] for b in bodies] == [["marketing"], ["joint_rnd"]]
    assert {b["ledger_index"] for b in bodies} <= set(range(runtime.ledger.size()))


def test_a_lapsed_consent_expired_by_retention_tells_its_recipients(runtime: Runtime) -> None:
    world = seed_demo(runtime)
    runtime.webhooks.register(_client("bright-marketing"), "https://agency.example/events", ["consent.expired"])
    li_id = world.customer_ids["cust-1001"]
    began = datetime.now(UTC) - timedelta(days=30)
    lapsed = runtime.policies.consents.grant(
        subject_id=li_id,
        purposes=["marketing"],
        categories=["contact.email"],
        recipients=["org:bright-marketing"],
        jurisdiction="CN",
        actor=f"customer:{li_id}",
        valid_until=began + timedelta(days=1),
        at=began,
    )
    report = asyncio.run(run_retention(runtime.retention))
    assert lapsed.record_id in report.lapsed
    assert runtime.policies.consents.get(lapsed.record_id).status.value == "expired"
    assert ("consent.expired", li_id, "bright-marketing") in _queued(runtime)
    assert {t for t, _, _ in _queued(runtime)} == {"consent.expired"}  # only the type the webhook asked for


def test_a_rectification_tells_recipients_the_category_never_the_value(runtime: Runtime) -> None:
    world = seed_demo(runtime)
    runtime.upstreams = UpstreamRegistry(demo_upstreams("http://127.0.0.1:9"))
    runtime.webhooks.register(_client("bright-marketing"), "https://agency.example/events", ["rectification.requested"])
    li = runtime.customers.get(world.customer_ids["cust-1001"])
    assert li is not None
    category = rectification.rectifiable_categories(runtime.rectifications, li)[0]
    value = "li.wei@example.org" if category == "contact.email" else "+86 138 0000 0000"
    rectification.request_rectification(runtime.rectifications, li, category, value)
    assert _queued(runtime) == [("rectification.requested", li.customer_id, "bright-marketing")]
    with runtime.engine.connect() as conn:
        body = conn.execute(select(change_events.c.body)).scalar_one()
    assert json.loads(body)["data"]["category"] == category and value not in body


def test_an_opt_out_of_sale_is_a_restriction_every_recipient_hears_of(runtime: Runtime) -> None:
    world = seed_demo(runtime)
    runtime.webhooks.register(_client("bright-marketing"), "https://agency.example/events", ["processing.restricted"])
    emily = runtime.customers.get(world.customer_ids["cust-1005"])
    assert emily is not None
    sale_opt_out.choose(runtime.policies, emily, RecordKind.OPT_OUT, True)
    sale_opt_out.choose(runtime.policies, emily, RecordKind.OPT_OUT, True)  # already chosen: nothing new
    assert _queued(runtime) == [("processing.restricted", emily.customer_id, "bright-marketing")]
    with runtime.engine.connect() as conn:
        body = json.loads(conn.execute(select(change_events.c.body)).scalar_one())
    assert body["data"]["kind"] == "opt_out" and body["required_action"] == "restrict_processing"
