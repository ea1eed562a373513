"""A bare forwarding hop, the second peer of `consentry bench proxy`: what any Python proxy costs before it
decides anything.

It serves the same way the gateway does (uvicorn with the same options, one process) and fetches through the
gateway's own upstream transport, but it only passes a GET through: no token, no decision, no filtering, no
ledger. Measured in the same run as the direct read and the gateway, it separates the price of being an HTTP hop
on this machine from the price of the gateway's own work, so the throughput ratio can be read against the best a
hop written like ours could reach.

Run it alone with ``python -m benchmarks._forwarder --port 8702 --upstream http://127.0.0.1:8701``.
"""

from __future__ import annotations

import argparse
from typing import Final
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.upstream.transport import PooledHTTP11Transport, encode_headers

__all__ = ["create_forwarder_app", "main"]

_TIMEOUTS: Final = {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}
_TEXT: Final = (b"content-type", b"text/plain; charset=utf-8")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode("ascii"))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_forwarder_app(upstream_url: str, *, max_connections: int = 100) -> ASGIApp:
    """An ASGI app that forwards each GET to ``upstream_url`` plus the request's path and query.

    Anything but GET is 405; an upstream that cannot be reached is 502. The upstream's status and body pass
    through; of its headers only Content-Type is kept (the gateway, too, answers with headers of its own).
    """
    parts = urlsplit(upstream_url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"the forwarder needs a plain http://host:port upstream, not {upstream_url!r}")
    port = parts.port or 80
    origin = ("http", parts.hostname, port)
    block = encode_headers([(b"accept", b"application/json")], host=f"{parts.hostname}:{port}".encode("ascii"))
    transport = PooledHTTP11Transport(max_connections=max_connections, max_keepalive_connections=max_connections)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await transport.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "GET":
            await _answer(send, 405, [_TEXT], b"only GET is forwarded\n")
            return
        query = scope["query_string"]
        target = scope["raw_path"] + (b"?" + query if query else b"")
        try:
            response = await transport.send(origin, b"GET", target, block, b"", _TIMEOUTS)
            body = response.body if isinstance(response.body, bytes) else b"".join([c async for c in response.body])
        except httpx.TransportError as exc:
            await _answer(send, 502, [_TEXT], f"upstream unreachable: {type(exc).__name__}\n".encode())
            return
        kept = [(name, value) for name, value in response.headers if name.lower() == b"content-type"]
        await _answer(send, response.status, kept, body)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the forwarder in the foreground with the options `consentry serve` gives uvicorn."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._forwarder", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:8701")
    args = parser.parse_args(argv)
    try:
        app = create_forwarder_app(args.upstream)
    except ValueError as exc:
        parser.error(str(exc))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
