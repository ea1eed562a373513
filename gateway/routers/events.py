"""Change events: recipients register webhooks, see deliveries and confirm; customers see who was told and who
confirmed; anyone fetches the public key deliveries are signed with. The logic lives in `gateway.events`."""

from __future__ import annotations

from typing import Any, Literal

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.dependencies import PROXY_GRANTS, KeysDep, WebhooksDep, current_client, require_customer
from gateway.events import CONFIRMATIONS, EVENT_TYPES, InvalidEvent, InvalidWebhook, UnknownEvent
from gateway.events.signing import CONFIRMATION_COMPONENTS, CONFIRMATION_TAG, verify_signed_request
from gateway.routers.consents import LANG_QUERY, Lang, json_example
from gateway.web.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["change events"])

_EVENT_ID = "3f1e5a7c-9b2d-4e6f-8a0c-1d3e5f7a9b2c"
_WEBHOOK_ID = "8c2d4e6f-0a1b-4c3d-9e8f-7a6b5c4d3e2f"


async def recipient(principal: ClientPrincipal = Depends(current_client)) -> ClientPrincipal:
    """A recipient is a CRM client that reads through the proxy (scope `proxy`, role `crm`)."""
    return PROXY_GRANTS.check(principal)


EventType = Literal[
    "consent.withdrawn", "consent.expired", "erasure.requested", "rectification.requested", "processing.restricted"
]


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://crm.example.com/consentry/events", "event_types": ["consent.withdrawn"]}]
        },
    )

    url: str = Field(min_length=1, max_length=2000, description="Where deliveries are POSTed (http or https).")
    event_types: list[EventType] = Field(min_length=1)
    public_jwk: dict[str, Any] | None = Field(
        None,
        description="The recipient's Ed25519 public JWK for mutual authentication: once registered, every "
        "confirmation of an event this webhook received must carry an RFC 9421 signature by it (tag "
        "`consentry-confirmation`, covering `@method`, `@target-uri`, `authorization` and `content-digest`).",
    )


class WebhookView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "webhook_id": _WEBHOOK_ID,
                    "url": "https://crm.example.com/consentry/events",
                    "event_types": ["consent.withdrawn"],
                    "organization": "bright-marketing",
                    "public_jwk": None,
                    "created_at": "2026-12-07T11:00:00Z",
                }
            ]
        }
    )

    webhook_id: str
    url: str
    event_types: list[str]
    organization: str
    public_jwk: dict[str, Any] | None = None
    created_at: str


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"action": "deleted"}]})

    action: Literal["deleted", "processing_stopped"] = Field(description="What the recipient did about the event.")


def _invalid(exc: InvalidWebhook) -> Problem:
    return Problem(400, "invalid-webhook", str(exc))


@router.get(
    "/events/keys",
    summary="The keys change events are signed with",
    description="A JWK Set of the gateway's Ed25519 keys for change events. Each delivery carries an RFC 9421 "
    "HTTP Message Signature (label `consentry`, tag `consentry-event`) over the method, target URI, content "
    "type, `Consentry-Event-Id` and `Content-Digest`, with the signing key's RFC 7638 thumbprint as `keyid`.",
    responses=json_example(
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "…"}]}
    ),
)
async def event_keys(keys: KeysDep) -> dict[str, Any]:
    return keys.ring("events").public_jwks()


@router.post(
    "/webhooks",
    summary="Register a webhook for change events",
    description="The calling recipient asks to be told, at `url`, of the listed change events about customers "
    f"whose data concerns its organization. Event types: {', '.join(EVENT_TYPES)}. Deliveries are signed "
    "(see `GET /v1/events/keys`), retried with backoff until acknowledged with a 2xx, and in order per customer; "
    "a repeated delivery carries the same event `id`. Needs scope `proxy` and the role `crm`.",
    status_code=201,
    response_model=WebhookView,
    responses=problem_responses(400, 401, 403),
)
async def register_webhook(
    body: WebhookRegistration, webhooks: WebhooksDep, client: ClientPrincipal = Depends(recipient)
) -> dict[str, Any]:
    try:
        return await run_in_threadpool(webhooks.register, client, body.url, body.event_types, body.public_jwk)
    except InvalidWebhook as exc:
        raise _invalid(exc) from None


@router.get(
    "/webhooks",
    summary="My webhooks",
    description="The calling client's active webhooks.",
    response_model=list[WebhookView],
    responses=problem_responses(401, 403),
)
async def list_webhooks(webhooks: WebhooksDep, client: ClientPrincipal = Depends(recipient)) -> list[dict[str, Any]]:
    return await run_in_threadpool(webhooks.registered, client)


WEBHOOK_ID = Path(description="The webhook's id.", examples=[_WEBHOOK_ID])


@router.delete(
    "/webhooks/{webhook_id}",
    summary="Remove a webhook",
    description="No further deliveries go to it; its delivery history stays visible to the customers concerned.",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def remove_webhook(
    webhooks: WebhooksDep, webhook_id: str = WEBHOOK_ID, client: ClientPrincipal = Depends(recipient)
) -> Response:
    try:
        await run_in_threadpool(webhooks.remove, client, webhook_id)
    except UnknownEvent:
        raise Problem(404, "not-found", "No such webhook.") from None
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="Delivery status of my webhook",
    description="The latest deliveries to the webhook, newest first: status (`pending` or `delivered`), attempts, "
    "the last answer or error, and the organization's confirmation if it gave one.",
    responses={
        **json_example(
            [
                {
                    "event_id": _EVENT_ID,
                    "type": "consent.withdrawn",
                    "status": "delivered",
                    "attempts": 1,
                    "last_status": 204,
                    "last_error": None,
                    "delivered_at": "2026-12-07T11:00:01Z",
                    "confirmed_at": "2026-12-07T11:00:02Z",
                    "confirmation": "deleted",
                }
            ]
        ),
        **problem_responses(401, 403, 404),
    },
)
async def webhook_deliveries(
    webhooks: WebhooksDep,
    webhook_id: str = WEBHOOK_ID,
    limit: int = Query(100, ge=1, le=1000),
    client: ClientPrincipal = Depends(recipient),
) -> list[dict[str, Any]]:
    try:
        return await run_in_threadpool(webhooks.deliveries, client, webhook_id, limit=limit)
    except UnknownEvent:
        raise Problem(404, "not-found", "No such webhook.") from None


@router.post(
    "/events/{event_id}/confirmations",
    summary="Confirm what my organization did about an event",
    description=f"The recipient states it acted on a change event delivered to it ({', '.join(CONFIRMATIONS)}). "
    "The confirmation is a ledger entry (type `recipient.confirmation`) and the customer sees it; confirming "
    "again answers with the first confirmation. 404 for an event never delivered to the caller's organization. "
    "If the organization registered a `public_jwk` on that webhook, the request must be signed with it (RFC 9421, "
    "tag `consentry-confirmation`), else 401 `signature-required`.",
    responses={
        **json_example(
            {"event_id": _EVENT_ID, "recipient": "bright-marketing", "action": "deleted", "ledger_index": 120}
        ),
        **problem_responses(400, 401, 403, 404),
    },
)
async def confirm_event(
    request: Request,
    body: Confirmation,
    webhooks: WebhooksDep,
    event_id: str = Path(description="The event's `id`.", examples=[_EVENT_ID]),
    client: ClientPrincipal = Depends(recipient),
) -> dict[str, Any]:
    keys = await run_in_threadpool(webhooks.recipient_keys, client, event_id)
    if keys["keys"]:
        raw = await request.body()
        message = httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=raw)
        try:
            verify_signed_request(message, raw, keys, tag=CONFIRMATION_TAG, components=CONFIRMATION_COMPONENTS)
        except InvalidEvent as exc:
            raise Problem(
                401, "signature-required", f"Sign this confirmation with your registered key: {exc}"
            ) from None
    try:
        return await run_in_threadpool(webhooks.confirm, client, event_id, body.action)
    except UnknownEvent:
        raise Problem(404, "not-found", "No such event was delivered to your organization.") from None
    except InvalidWebhook as exc:
        raise _invalid(exc) from None


@router.get(
    "/me/events",
    summary="Who was told about my changes",
    description="My withdrawals, erasure and rectification requests as change events, newest first, each with every "
    "recipient told: delivery status, and whether and when it confirmed deleting (with the ledger entry).",
    tags=["customer data rights"],
    responses={
        **json_example(
            [
                {
                    "event_id": _EVENT_ID,
                    "type": "consent.withdrawn",
                    "occurred_at": "2026-12-07T11:00:00Z",
                    "ledger_index": 118,
                    "data": {"record_id": "…", "status": "withdrawn", "purposes": ["marketing"], "categories": []},
                    "recipients": [
                        {
                            "organization": "bright-marketing",
                            "name": "Bright Marketing Agency",
                            "status": "delivered",
                            "delivered_at": "2026-12-07T11:00:01Z",
                            "confirmed_at": "2026-12-07T11:00:02Z",
                            "confirmation": "deleted",
                            "confirmation_ledger_index": 120,
                        }
                    ],
                }
            ]
        ),
        **problem_responses(401),
    },
)
async def my_events(
    webhooks: WebhooksDep, lang: Lang = LANG_QUERY, customer: CustomerPrincipal = Depends(require_customer)
) -> list[dict[str, Any]]:
    return await run_in_threadpool(webhooks.for_customer, customer.customer_id, lang=lang)
