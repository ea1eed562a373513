"""The marketing agency's webhook receiver: what a recipient of change events runs, bundled for the demo.

It accepts `POST /events` only when the delivery's RFC 9421 signature verifies against the gateway's published
keys (`GET /v1/events/keys`, fetched on first use and again when a delivery names a key it does not know) and the
body matches its `Content-Digest`; anything else is refused with 401 and counted. An accepted delivery is
acknowledged with 204 and remembered by its event `id` (a repeated delivery is acknowledged again, not acted on
twice). For a withdrawal or an erasure, the agency then deletes what it holds about the customer — here, its
notes — and confirms the deletion to the gateway through `POST /v1/events/{id}/confirmations`, a ledgered call.

`GET /received` lists every delivery as it arrived (event id, type, customer, whether it was a repeat) and the
ids acknowledged so far, for the demo's curious and the tests. Run it with
``python -m gateway.demo.receiver --port 8704 --gateway URL --client-id marketing --client-secret …`` (the secret
may come from ``CONSENTRY_RECEIVER_CLIENT_SECRET``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.events.signing import InvalidEvent, verify_event

__all__ = ["Receiver", "create_receiver_app", "main"]

_ACT_ON = frozenset({"consent.withdrawn", "consent.expired", "erasure.requested"})


@dataclass
class Receiver:
    """The recipient's state: the gateway it trusts, its own credentials, and what it received."""

    gateway: str
    client_id: str | None = None
    client_secret: str | None = None
    answer_after: float = 0.0
    ca_file: str | None = None  # the gateway's certificate authority, for an https gateway with a private one
    jwks: dict[str, Any] | None = None
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    acknowledged: list[str] = field(default_factory=list)  # event ids, as each 204 is about to be sent
    confirmed: dict[str, int] = field(default_factory=dict)  # event id -> ledger index of the confirmation
    seen: set[str] = field(default_factory=set)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        trust: ssl.SSLContext | bool = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        return httpx.AsyncClient(timeout=30, verify=trust, **kwargs)

    async def keys(self, http: httpx.AsyncClient, *, refresh: bool = False) -> dict[str, Any]:
        if self.jwks is None or refresh:
            response = await http.get(f"{self.gateway}/v1/events/keys")
            response.raise_for_status()
            self.jwks = response.json()
        return self.jwks

    async def confirm(self, event_id: str) -> None:
        """Delete what the agency holds about the customer (nothing here but the notes), then say so."""
        if self.client_id is None or self.client_secret is None:
            return
        async with self.client(base_url=self.gateway) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
            )
            token.raise_for_status()
            answer = await http.post(
                f"/v1/events/{event_id}/confirmations",
                json={"action": "deleted"},
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
            answer.raise_for_status()
            self.confirmed[event_id] = int(answer.json()["ledger_index"])


def create_receiver_app(receiver: Receiver) -> Starlette:
    async def events(request: Request) -> Response:
        body = await request.body()
        message = httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=body)
        async with receiver.client() as http:
            try:
                event = verify_event(message, body, await receiver.keys(http))
            except InvalidEvent:
                try:  # perhaps the gateway rotated its key since we fetched them: look once more
                    event = verify_event(message, body, await receiver.keys(http, refresh=True))
                except InvalidEvent as exc:
                    receiver.rejected += 1
                    return JSONResponse(
                        {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": str(exc)},
                        status_code=401,
                        media_type="application/problem+json",
                    )
        repeat = event["id"] in receiver.seen
        receiver.seen.add(event["id"])
        receiver.arrivals.append(
            {"id": event["id"], "type": event["type"], "customer": event["customer"], "repeat": repeat}
        )
        if receiver.answer_after:
            await asyncio.sleep(receiver.answer_after)
        receiver.acknowledged.append(event["id"])
        act = not repeat and event["type"] in _ACT_ON
        return Response(status_code=204, background=BackgroundTask(receiver.confirm, event["id"]) if act else None)

    async def received(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "arrivals": receiver.arrivals,
                "acknowledged": receiver.acknowledged,
                "rejected": receiver.rejected,
                "confirmed": receiver.confirmed,
            }
        )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/events", events, methods=["POST"]),
            Route("/received", received, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m gateway.demo.receiver", description="The demo marketing agency's change-event receiver."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8704)
    parser.add_argument("--gateway", required=True, help="The gateway's base URL (its keys and confirmations).")
    parser.add_argument("--client-id", help="The agency's OAuth client, to confirm deletions.")
    parser.add_argument("--client-secret", default=os.environ.get("CONSENTRY_RECEIVER_CLIENT_SECRET"))
    parser.add_argument(
        "--answer-after", type=float, default=0.0, help="Seconds to wait before acknowledging (a slow recipient)."
    )
    parser.add_argument("--ca-file", help="A certificate authority to trust for an https gateway.")
    args = parser.parse_args(argv)
    receiver = Receiver(args.gateway, args.client_id, args.client_secret, args.answer_after, args.ca_file)
    uvicorn.run(create_receiver_app(receiver), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
