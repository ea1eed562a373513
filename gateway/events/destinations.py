"""Where the gateway may send a webhook: public addresses only, unless the operator allows private ones.

A recipient chooses its webhook URL, and the gateway then POSTs signed events there on its own initiative: without a
check, any registered client could make the gateway reach loopback services, the private network or a cloud
metadata endpoint (server-side request forgery). Registration refuses literal private addresses and `localhost`;
delivery resolves the name and refuses it when any address it resolves to is not global, so a name that moved to a
private address after registration is refused too. `CONSENTRY_EVENTS_PRIVATE_ADDRESSES` allows them (the demo's
receiver listens on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

__all__ = ["PrivateDestination", "PublicOnlyTransport", "literal_private"]


class PrivateDestination(httpx.ConnectError):
    """The webhook's host is, or resolves to, an address that is not public."""


def literal_private(host: str) -> bool:
    """True when `host` names a non-public address without DNS: an IP literal or a `localhost` name."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return False


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """Refuses a request whose host resolves to any non-global address before the wrapped transport connects."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if literal_private(host):
            raise PrivateDestination(f"refused: {host} is not a public address", request=request)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, request.url.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
        for *_, sockaddr in found:
            if not ipaddress.ip_address(str(sockaddr[0]).split("%")[0]).is_global:
                raise PrivateDestination(f"refused: {host} resolves to {sockaddr[0]}, not public", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
