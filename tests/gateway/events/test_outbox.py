"""The outbox's promise as an invariant (hypothesis): whatever recipients fail, every event reaches every interested
webhook, each acknowledged exactly once, and per webhook and customer in the order the changes were recorded."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from gateway.auth.principals import ClientPrincipal, Role
from gateway.events import CONSENT_WITHDRAWN, ChangeEvent, EventSigner, Outbox, drain_once, record_change
from gateway.runtime import Runtime
from gateway.store.federation_tables import change_events, event_deliveries, webhooks

ORGANIZATIONS = ("org-a", "org-b")


def _recipient(organization: str) -> ClientPrincipal:
    return ClientPrincipal(
        client_id=organization,
        organization=organization,
        roles=frozenset({Role.CRM}),
        scopes=frozenset({"proxy"}),
        allowed_purposes=frozenset(),
        jurisdiction="CN",
        token_id="t",
        token_expires_at=0,
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    customers=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=8),
    failures=st.lists(st.booleans(), max_size=40),
)
def test_every_event_is_acknowledged_once_in_order_per_customer_despite_failures(
    runtime: Runtime, customers: list[int], failures: list[bool]
) -> None:
    engine = runtime.engine
    with engine.begin() as conn:
        for table in (event_deliveries, change_events, webhooks):
            conn.execute(delete(table))
    for organization in ORGANIZATIONS:
        runtime.webhooks.register(
            _recipient(organization), f"https://{organization}.example/events", [CONSENT_WITHDRAWN]
        )
    recorded: list[tuple[str, str]] = []  # (event id, customer), in the order the changes were recorded
    for number in customers:
        change = ChangeEvent(CONSENT_WITHDRAWN, f"customer-{number}", frozenset(ORGANIZATIONS), {"n": number})
        with engine.begin() as conn:
            record_change(conn, change, None)
        recorded.append((change.event_id, change.customer_id))

    schedule = list(failures)
    acknowledged: list[tuple[str, str]] = []  # (host, event id) of every 2xx the recipients answered

    def recipient(request: httpx.Request) -> httpx.Response:
        if schedule and schedule.pop(0):
            return httpx.Response(503)
        acknowledged.append((str(request.url.host), request.headers["Consentry-Event-Id"]))
        return httpx.Response(204)

    fast = runtime.settings.model_copy(update={"events_backoff_seconds": 0.001, "events_backoff_max_seconds": 0.001})
    keys = runtime.keys
    outbox = Outbox(engine, EventSigner(lambda: keys.ring("events")), fast)

    async def drain() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(recipient)) as http:
            for _ in range(1000):
                with engine.connect() as conn:
                    pending = conn.execute(
                        select(func.count()).select_from(event_deliveries).where(event_deliveries.c.status == "pending")
                    ).scalar_one()
                if not pending:
                    return
                await drain_once(outbox, http)
                await asyncio.sleep(0.002)

    asyncio.run(drain())
    customer_of = dict(recorded)
    for organization in ORGANIZATIONS:
        host = f"{organization}.example"
        mine = [event for h, event in acknowledged if h == host]
        assert sorted(mine) == sorted(event for event, _ in recorded)  # every event, each acknowledged once
        per_customer: dict[str, list[str]] = defaultdict(list)
        for event in mine:
            per_customer[customer_of[event]].append(event)
        for customer, events in per_customer.items():
            assert events == [event for event, c in recorded if c == customer]  # in the order recorded
