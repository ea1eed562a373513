"""Rules for the request head, before anything reads it: its size (431) and headers that may appear only once.

**Size.** uvicorn's httptools parser buffers a header line of any length and hands it over only once it has
ended, so a 64 MiB header was read into memory whole (twice, with the copy the ASGI scope keeps) before any
middleware could look at it. `BoundedHeadProtocol` counts the bytes of each request head as they arrive and,
past the limit, answers 431 problem+json (RFC 6585 §5) and closes the connection: the most a head costs is
the limit plus one read from the socket. The limit travels in uvicorn's own `h11_max_incomplete_event_size`
setting, the same bound uvicorn's h11 implementation applies, so it reaches `--workers` processes unchanged.

**Singletons.** A request that repeats a header naming who is asking or why (`Consentry-Purpose`,
`Authorization`, `Idempotency-Key`) is ambiguous: one layer may read the first, another the last, and a
reader that silently picks one lets the caller smuggle the other past whoever logged it. Such a request is
refused (400 `header-repeated`) before routing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.web.problems import MEDIA_TYPE, problem_response, problem_type

DEFAULT_MAX_HEAD_BYTES = 32_768

SINGLETON_HEADERS = (b"consentry-purpose", b"authorization", b"idempotency-key")


def head_too_large(max_bytes: int) -> bytes:
    """The whole 431 response, written straight to the socket: no request exists yet to route."""
    body = json.dumps(
        {
            "type": problem_type("request-header-fields-too-large"),
            "title": "Request Header Fields Too Large",
            "status": 431,
            "detail": f"The request line and headers exceed the limit of {max_bytes} bytes.",
            "max_bytes": max_bytes,
        }
    ).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that was already refused."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on each request head (request line and headers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head_bytes = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        self._in_head = True
        self._head_bytes = 0
        self._refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._max_head_bytes:
            self._refuse()
            raise _HeadTooLarge
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # A head still unfinished past the limit: the parser holds at most the limit and this one read.
        if self._in_head and self._head_bytes > self._max_head_bytes and not self._refused:
            self._refuse()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser's complaint about a head we stopped: already answered with 431
            super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        self.logger.info("request head over %d bytes refused with 431", self._max_head_bytes)
        if not self.transport.is_closing():
            self.transport.write(head_too_large(self._max_head_bytes))
            self.transport.close()


class SingletonHeadersMiddleware:
    """Refuses a request that repeats one of `SINGLETON_HEADERS` (400 problem+json `header-repeated`)."""

    def __init__(self, app: ASGIApp, names: tuple[bytes, ...] = SINGLETON_HEADERS) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen: set[bytes] = set()
            for name, _ in scope["headers"]:
                if name in self.names:
                    if name in seen:
                        response = problem_response(
                            Request(scope),
                            400,
                            "header-repeated",
                            f"The {name.decode().title()} header may appear only once.",
                            extensions={"header": name.decode()},
                        )
                        await response(scope, receive, send)
                        return
                    seen.add(name)
        await self.app(scope, receive, send)
