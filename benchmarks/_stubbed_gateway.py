"""`consentry serve` with one part of the proxied read replaced by a memo, for the CPU breakdown of `bench proxy`.

``python -m benchmarks._stubbed_gateway --host H --port P --part PART`` patches PART and then runs the ordinary
`consentry serve` (configured by the same CONSENTRY_* environment), so the served gateway is the real one but for
that part. The gateway's CPU per read with PART stubbed,
subtracted from an unmodified gateway's in the same run, is what PART costs *in place*: with every other part
running beside it, sharing the interpreter lock and the event loop, which is more than the part costs alone.

Each stub does the real work once and then answers from a memo of that answer, so the read still goes through
every other step unchanged and still answers 200 with the same body. The switch lives only here: production code
never reads it, and a gateway started any other way has no stub.

PART is one of `PARTS`:

- ``ledger``: the durable ledger append (entry preparation, the writer thread, the commit and fsync) answers at
  once with a counter as the entry's index;
- ``upstream``: the upstream fetch, the JSON parse and the field filter answer the first filtered result;
- ``decision``: the consent read and the decision answer the first decision for that client, customer and purpose;
- ``request_context``: the request context (request id, metrics, access log) assigns a fixed id and records nothing;
- ``token``: the bearer token check answers the first principal for that token.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

__all__ = ["PARTS", "main"]


def _stub_ledger() -> None:
    from gateway.proxy import access
    from ledger import Event

    indexes = itertools.count(1)

    async def append_access(flow: access.AccessFlow, event: Event, effects: Any = None) -> int:
        return next(indexes)

    access.append_access = append_access


def _stub_upstream() -> None:
    from gateway.upstream import ResolvedRequest, UpstreamClient
    from gateway.upstream.client import FilteredRead

    real = UpstreamClient.fetch_filtered
    memo: dict[tuple[Any, ...], FilteredRead] = {}

    async def fetch_filtered(
        self: UpstreamClient, resolved: ResolvedRequest, released: Collection[str], **kwargs: Any
    ) -> FilteredRead:
        key = (self.config.name, resolved.path, tuple(sorted(resolved.params.items())), frozenset(released))
        found = memo.get(key)
        if found is None:
            found = memo[key] = await real(self, resolved, released, **kwargs)
        return found

    UpstreamClient.fetch_filtered = fetch_filtered  # type: ignore[method-assign]


def _stub_decision() -> None:
    from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
    from gateway.proxy import access
    from policies import Decision

    real = access.decide
    memo: dict[tuple[Any, ...], Decision] = {}

    async def decide(
        flow: access.AccessFlow,
        principal: ClientPrincipal,
        customer: CustomerPrincipal,
        categories: Sequence[str],
        purpose: str,
    ) -> Decision:
        key = (principal.organization, customer.customer_id, tuple(categories), purpose)
        found = memo.get(key)
        if found is None:
            found = memo[key] = await real(flow, principal, customer, categories, purpose)
        return found

    access.decide = decide


def _stub_request_context() -> None:
    from starlette.types import Scope

    from gateway.web.observability import RequestContext

    def open_(self: RequestContext, scope: Scope, incoming: bytes | None) -> tuple[bytes, float]:
        return b"stubbed-request-id", 0.0

    def close(self: RequestContext, scope: Scope, status: int, started: float) -> None:
        return None

    RequestContext.open = open_  # type: ignore[method-assign]
    RequestContext.close = close  # type: ignore[method-assign]


def _stub_token() -> None:
    from starlette.requests import Request

    from gateway.auth.bearer import BearerAuthenticator
    from gateway.auth.principals import ClientPrincipal
    from gateway.routers import proxy

    real = proxy.authenticate_client  # type: ignore[attr-defined]
    memo: dict[str | None, ClientPrincipal] = {}

    async def authenticate_client(request: Request, bearer: BearerAuthenticator, token: str | None) -> ClientPrincipal:
        found = memo.get(token)
        if found is None:
            found = memo[token] = await real(request, bearer, token)
        return found

    proxy.authenticate_client = authenticate_client  # type: ignore[attr-defined]


PARTS: Final[dict[str, Callable[[], None]]] = {
    "ledger": _stub_ledger,
    "upstream": _stub_upstream,
    "decision": _stub_decision,
    "request_context": _stub_request_context,
    "token": _stub_token,
}


def main(argv: list[str] | None = None) -> None:
    """Stub the part, then serve one gateway process in the foreground as `consentry serve` does."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._stubbed_gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--part", choices=sorted(PARTS), required=True)
    args = parser.parse_args(argv)
    PARTS[args.part]()
    from gateway.cli import app

    app(["serve", "--host", args.host, "--port", str(args.port)], prog_name="consentry")


if __name__ == "__main__":
    main()
