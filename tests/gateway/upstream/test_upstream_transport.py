"""PooledHTTP11Transport against real servers on loopback: uvicorn, and raw asyncio servers scripted byte by byte.

The raw servers send exactly the bytes a case needs (RFC 9112 framing, broken heads, closed connections), and
count the connections they accept, so reuse and non-reuse are observed from the server's side.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.demo import BackgroundServer
from gateway.upstream import PooledHTTP11Transport
from gateway.upstream.transport import Origin, RawResponse, encode_headers

pytestmark = pytest.mark.anyio

TIMEOUTS = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}


def build(method: str, url: str, timeouts: dict[str, float] | None = None, **kwargs: Any) -> httpx.Request:
    """A request as httpx hands it to a transport, with every timeout in its extensions."""
    return httpx.Request(method, url, extensions={"timeout": {**TIMEOUTS, **(timeouts or {})}}, **kwargs)


async def send(transport: httpx.AsyncBaseTransport, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return await send_built(transport, build(method, url, **kwargs))


async def send_built(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """Send and read the whole body (which returns a kept-alive connection to the pool)."""
    response = await transport.handle_async_request(request)
    await response.aread()
    await response.aclose()
    return response


@dataclass
class Seen:
    connection: int
    head: bytes
    body: bytes


Reply = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawServer:
    """Reads each request (head, and a Content-Length or chunked body), records it, and lets ``reply`` answer.

    ``reply`` writes raw bytes and returns whether to keep the connection open for another request.
    """

    reply: Reply
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    url: str = ""
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client.set()
                    return
                body = b""
                if length := re.search(rb"(?im)^content-length: *(\d+)", head):
                    body = await reader.readexactly(int(length.group(1)))
                elif re.search(rb"(?im)^transfer-encoding: *chunked", head):
                    body = await read_chunked(reader)
                seen = Seen(number, head, body)
                self.seen.append(seen)
                if not await self.reply(seen, writer):
                    return
                await writer.drain()
        except ConnectionError:
            return  # the client closed the connection mid-response, as some cases do on purpose
        finally:
            writer.close()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return body


def answer(*responses: bytes, keep_open: bool = True) -> Reply:
    """Reply with ``responses`` in turn (the last one repeats), across connections."""
    queue = list(responses)

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(queue.pop(0) if len(queue) > 1 else queue[0])
        return keep_open

    return reply


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def transport() -> AsyncIterator[PooledHTTP11Transport]:
    pool = PooledHTTP11Transport()
    yield pool
    await pool.aclose()


# RFC 9112 §6.3 message body length


async def test_content_length_delimits_the_body_and_the_connection_is_kept(
    transport: PooledHTTP11Transport,
) -> None:
    body = b'{"name": "Li Wei"}'
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))) as server:
        responses = [await send(transport, "GET", server.url + "/r") for _ in range(5)]
    assert [r.content for r in responses] == [body] * 5
    assert (responses[0].status_code, responses[0].http_version, responses[0].reason_phrase) == (200, "HTTP/1.1", "OK")
    assert server.connections == 1  # five sequential requests, one kept-alive connection


async def test_chunked_body_with_extensions_and_trailers(transport: PooledHTTP11Transport) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;name=value\r\nhello\r\n6;quoted="a;b"\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n'
    )
    async with RawServer(answer(chunked)) as server:
        first = await send(transport, "GET", server.url)
        second = await send(transport, "GET", server.url)
    assert first.content == second.content == b"hello world"
    assert server.connections == 1  # the trailer section was consumed to its end, so the connection was reusable


async def test_a_body_without_length_is_read_until_close_and_the_connection_is_not_reused(
    transport: PooledHTTP11Transport,
) -> None:
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", keep_open=False)) as server:
        responses = [await send(transport, "GET", server.url) for _ in range(2)]
    assert [r.content for r in responses] == [b"until the end"] * 2
    assert server.connections == 2


async def test_a_final_transfer_coding_other_than_chunked_is_read_until_close(
    transport: PooledHTTP11Transport,
) -> None:
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: x-custom\r\n\r\nraw", keep_open=False)) as s:
        response = await send(transport, "GET", s.url)
    assert response.content == b"raw"


@pytest.mark.parametrize(
    ("method", "status_line"),
    [
        ("HEAD", b"HTTP/1.1 200 OK"),
        ("GET", b"HTTP/1.1 204 No Content"),
        ("GET", b"HTTP/1.1 304 Not Modified"),
    ],
)
async def test_head_204_and_304_have_no_body_whatever_their_content_length(
    transport: PooledHTTP11Transport, method: str, status_line: bytes
) -> None:
    reply = answer(status_line + b"\r\nContent-Length: 100\r\n\r\n", OK)
    async with RawServer(reply) as server:
        empty = await send(transport, method, server.url)
        after = await send(transport, "GET", server.url)
    assert empty.content == b""
    assert after.content == b"ok"  # the 100 announced bytes were never expected, so the next response parses
    assert server.connections == 1


async def test_interim_1xx_responses_are_skipped(transport: PooledHTTP11Transport) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    async with RawServer(answer(interim + OK)) as server:
        response = await send(transport, "GET", server.url)
    assert (response.status_code, response.content) == (200, b"ok")


async def test_connection_close_from_the_server_ends_reuse(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")) as server:
        for _ in range(2):
            await send(transport, "GET", server.url)
    assert server.connections == 2


async def test_http_1_0_is_reused_only_with_keep_alive(transport: PooledHTTP11Transport) -> None:
    reply = answer(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    async with RawServer(reply) as server:
        responses = [await send(transport, "GET", server.url) for _ in range(3)]
    assert responses[0].http_version == "HTTP/1.0"
    assert server.connections == 2  # kept after the first, closed after the second


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HTTP/1.1 2OO OK\r\n\r\n", "malformed status line"),
        (b"ICY 200 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "conflicting Content-Length"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "both Transfer-Encoding and Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed header field"),
        (b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\n\r\n", "malformed header field"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "exceeds 65536 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk-size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n", "not followed by CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed the connection before"),
    ],
)
async def test_malformed_responses_are_protocol_errors(
    transport: PooledHTTP11Transport, response: bytes, message: str
) -> None:
    async with RawServer(answer(response, keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await send(transport, "GET", server.url)


async def test_identical_repeated_content_lengths_are_one_length(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok")) as s:
        assert (await send(transport, "GET", s.url)).content == b"ok"


async def test_obsolete_line_folding_is_replaced_by_a_space(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 2\r\n\r\nok")) as s:
        response = await send(transport, "GET", s.url)
    assert response.headers["x-folded"] == "a b"


# keep-alive pool


async def test_a_reused_connection_the_server_closed_is_retried_once_for_an_idempotent_request(
    transport: PooledHTTP11Transport,
) -> None:
    """RFC 9110 §9.2.2: the server dropped the kept-alive connection as our GET arrived, before any answer."""

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if len(server.seen) == 2:
            return False  # read the second request, then close without a response byte
        writer.write(OK)
        return True

    async with RawServer(reply) as server:
        await send(transport, "GET", server.url)
        response = await send(transport, "GET", server.url)
    assert response.content == b"ok"
    assert [seen.connection for seen in server.seen] == [1, 1, 2]


async def test_a_post_on_a_connection_the_server_closed_is_not_repeated(transport: PooledHTTP11Transport) -> None:
    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if len(server.seen) == 2:
            return False
        writer.write(OK)
        return True

    async with RawServer(reply) as server:
        await send(transport, "GET", server.url)
        with pytest.raises(httpx.RemoteProtocolError, match="closed the connection"):
            await send(transport, "POST", server.url, content=b"{}")
    assert len(server.seen) == 2


async def test_an_idle_connection_the_server_closed_is_not_reused(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(OK, keep_open=False)) as server:
        await send(transport, "GET", server.url)
        await asyncio.sleep(0.05)  # let the server's FIN arrive: the protocol sees EOF while the connection is idle
        response = await send(transport, "GET", server.url)
    assert response.content == b"ok"
    assert [seen.connection for seen in server.seen] == [1, 2]  # no request was sent on the closed connection


@pytest.mark.parametrize(
    "limits", [{"keepalive_expiry": 0.0}, {"max_keepalive_connections": 0}], ids=["expired", "no-idle-kept"]
)
async def test_idle_connections_beyond_the_keep_alive_limits_are_closed(limits: dict[str, Any]) -> None:
    transport = PooledHTTP11Transport(**limits)
    async with RawServer(answer(OK)) as server:
        for _ in range(2):
            await send(transport, "GET", server.url)
        await transport.aclose()
    assert server.connections == 2


async def test_connection_refused_is_a_connect_error(transport: PooledHTTP11Transport, free_port: int) -> None:
    with pytest.raises(httpx.ConnectError):
        await send(transport, "GET", f"http://127.0.0.1:{free_port}/")


async def test_a_server_that_never_answers_is_a_read_timeout(transport: PooledHTTP11Transport) -> None:
    async def silent(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return True

    async with RawServer(silent) as server:
        with pytest.raises(httpx.ReadTimeout):
            await send(transport, "GET", server.url, timeouts={"read": 0.2})


async def test_waiting_longer_than_the_pool_timeout_for_a_connection_is_a_pool_timeout() -> None:
    transport = PooledHTTP11Transport(max_connections=1)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"  # half a body: the response stays open
    async with RawServer(answer(big, OK)) as server:
        held = await transport.handle_async_request(build("GET", server.url))
        with pytest.raises(httpx.PoolTimeout):
            await send(transport, "GET", server.url, timeouts={"pool": 0.1})
        await held.aclose()  # frees the only slot (and closes its connection: the body was not read)
        assert (await send(transport, "GET", server.url)).content == b"ok"
    await transport.aclose()
    assert server.connections == 2


async def test_a_waiting_request_gets_the_connection_a_finished_response_returns() -> None:
    transport = PooledHTTP11Transport(max_connections=1)
    body_may_follow = asyncio.Event()

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        await writer.drain()
        await body_may_follow.wait()
        writer.write(b"ok")
        return True

    async with RawServer(reply) as server:
        held = await transport.handle_async_request(build("GET", server.url))
        waiting = asyncio.ensure_future(send(transport, "GET", server.url))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        body_may_follow.set()
        await held.aread()  # the whole body: the connection goes to the waiting request
        assert (await waiting).content == b"ok"
    await transport.aclose()
    assert server.connections == 1


async def test_closing_a_streamed_body_early_closes_its_connection(transport: PooledHTTP11Transport) -> None:
    body = b"x" * 3_000_000  # far beyond what is read ahead, so the body is still on the wire
    async with RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))) as server:
        response = await transport.handle_async_request(build("GET", server.url))
        async for _chunk in response.aiter_raw():
            break
        await response.aclose()
        complete = await send(transport, "GET", server.url)
    assert complete.content == body
    assert server.connections == 2


async def read_slowly(response: httpx.Response, pause_every: int) -> bytes:
    """Read a streamed body with pauses, so the server gets far ahead and the reader's flow control engages."""
    body = bytearray()
    async for index, piece in aenumerate(response.aiter_raw()):
        body += piece
        if index % pause_every == 0:
            await asyncio.sleep(0.02)
    await response.aclose()
    return bytes(body)


async def aenumerate(pieces: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    index = 0
    async for piece in pieces:
        yield index, piece
        index += 1


async def test_a_body_read_slowly_to_its_end_returns_the_connection(transport: PooledHTTP11Transport) -> None:
    """Reading pauses while a lot is buffered and resumes as the body is consumed; the end frees the connection."""
    body = bytes(range(256)) * 8192  # 2 MiB, far more than is read ahead

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        return True

    async with RawServer(reply) as server:
        for _ in range(2):
            response = await transport.handle_async_request(build("GET", server.url))
            assert await read_slowly(response, pause_every=1) == body
    assert server.connections == 1


async def test_aclose_closes_every_connection() -> None:
    transport = PooledHTTP11Transport()
    async with RawServer(answer(OK)) as server:
        await send(transport, "GET", server.url)
        await transport.aclose()
        await asyncio.wait_for(server.closed_by_client.wait(), 5)
        with pytest.raises(RuntimeError, match="closed"):
            await send(transport, "GET", server.url)


# request serialization (RFC 9112 §3, §5, §6)


async def test_requests_carry_host_and_content_length(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(OK)) as server:
        await send(transport, "POST", server.url + "/items?a=1", content=b'{"a": 1}')
        await send(transport, "PUT", server.url + "/x", headers={"x-id": "1"}, stream=httpx.ByteStream(b""))
    port = server.url.rsplit(":", 1)[1]
    post, put = server.seen
    assert post.head.startswith(b"POST /items?a=1 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n".encode() in post.head
    assert b"\r\nContent-Length: 8\r\n" in post.head and post.body == b'{"a": 1}'
    assert f"\r\nHost: 127.0.0.1:{port}\r\n".encode() in put.head  # added by the transport when missing
    assert b"\r\nContent-Length: 0\r\n" in put.head


async def test_a_streamed_request_body_is_sent_chunked(transport: PooledHTTP11Transport) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b""
        yield b"world"

    async with RawServer(answer(OK)) as server:
        await send(transport, "POST", server.url, content=parts())
    (seen,) = server.seen
    assert b"\r\nTransfer-Encoding: chunked\r\n" in seen.head
    assert seen.body == b"hello world"


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Smuggle", "a\r\nX-Injected: 1")],
        [("X-Newline", "a\nb")],
        [("X-Nul", "a\x00b")],
        [("X-Control", "a\x01b")],
        [("X-Delete", "a\x7fb")],
        [("Bad Name", "x")],
        [("X-Colon:", "x")],
    ],
)
async def test_cr_lf_nul_and_non_token_names_are_never_sent(
    transport: PooledHTTP11Transport, headers: list[tuple[str, str]]
) -> None:
    async with RawServer(answer(OK)) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await send(transport, "GET", server.url, headers=headers)
    assert server.connections == 0


async def _stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Length": "3"}, b"abcGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"),  # the surplus is a 2nd request
        ({"Content-Length": "30"}, b"short"),
        ({"Content-Length": "-1"}, b""),
        ({"Content-Length": "0x10"}, b""),
    ],
)
async def test_a_content_length_that_does_not_frame_the_body_exactly_is_refused(
    transport: PooledHTTP11Transport, headers: dict[str, str], body: bytes
) -> None:
    """RFC 9112 §6.2: the length is the framing; a mismatch would smuggle the surplus in as another request."""
    async with RawServer(answer(OK)) as server:
        request = build("POST", server.url, content=body)
        for name, value in headers.items():
            request.headers[name] = value
        with pytest.raises(httpx.LocalProtocolError):
            await transport.handle_async_request(request)
    assert all(b"/admin" not in seen.head for seen in server.seen)


@pytest.mark.parametrize("parts", [(b"abc", b"GET /admin"), (b"a",)])
async def test_a_streamed_body_longer_or_shorter_than_its_content_length_is_refused(
    transport: PooledHTTP11Transport, parts: tuple[bytes, ...]
) -> None:
    async with RawServer(answer(OK)) as server:
        request = build("POST", server.url, content=_stream(*parts), headers={"Content-Length": "3"})
        with pytest.raises(httpx.LocalProtocolError):
            await send_built(transport, request)
    assert all(b"/admin" not in seen.head for seen in server.seen)


# the bytes-level entry point: send(origin, method, target, header block, body, timeouts)


def origin(url: str) -> Origin:
    host, port = url.removeprefix("http://").split(":")
    return "http", host, int(port)


async def test_send_writes_the_target_and_header_block_as_given_and_returns_a_whole_body_as_bytes(
    transport: PooledHTTP11Transport,
) -> None:
    block = encode_headers([(b"host", b"upstream.test"), (b"accept", b"application/json")], host=b"unused")
    async with RawServer(answer(OK)) as server:
        responses = [
            await transport.send(origin(server.url), b"GET", b"/a%20b/c?x=1&y=%2F", block, b"", TIMEOUTS)
            for _ in range(2)
        ]
    first, seen = responses[0], server.seen[0]
    assert seen.head == b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nhost: upstream.test\r\naccept: application/json\r\n\r\n"
    assert server.seen[1].head == seen.head  # one block, encoded once, sent twice
    assert (first.status, first.version, first.reason, first.headers) == (
        200,
        b"HTTP/1.1",
        b"OK",
        [(b"Content-Length", b"2")],
    )
    assert first.body == b"ok"
    assert server.connections == 1


async def test_send_frames_a_body_by_its_length_and_streams_a_chunked_answer(transport: PooledHTTP11Transport) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    block = encode_headers([], host=b"upstream.test")
    async with RawServer(answer(chunked)) as server:
        response = await transport.send(origin(server.url), b"POST", b"/items", block, b'{"a": 1}', TIMEOUTS)
        assert isinstance(response.body, httpx.AsyncByteStream)
        assert b"".join([chunk async for chunk in response.body]) == b"hello"
        await response.aclose()
        await transport.send(origin(server.url), b"GET", b"/", block, b"", TIMEOUTS)
    post = server.seen[0]
    assert post.head == b"POST /items HTTP/1.1\r\nHost: upstream.test\r\nContent-Length: 8\r\n\r\n"
    assert post.body == b'{"a": 1}'
    assert server.connections == 1  # the stream read to its end returned the connection


@pytest.mark.parametrize(
    "target",
    [b"", b"/a b", b"/a\r\nX-Injected: 1", b"/a\nb", b"/a\x00", b"/a\tb", b"/a\x7f", b"/caf\xc3\xa9"],
    ids=["empty", "space", "crlf", "lf", "nul", "tab", "del", "non-ascii"],
)
async def test_send_refuses_a_target_that_is_not_visible_ascii(transport: PooledHTTP11Transport, target: bytes) -> None:
    """RFC 9112 §3.2: a space, CR or LF in the target would end the request line or start another request."""
    async with RawServer(answer(OK)) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await transport.send(origin(server.url), b"GET", target, encode_headers([], host=b"h"), b"", TIMEOUTS)
    assert server.connections == 0


async def test_send_refuses_a_method_that_is_not_a_token(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(OK)) as server:
        with pytest.raises(httpx.LocalProtocolError, match="invalid method"):
            await transport.send(origin(server.url), b"GET /x", b"/", encode_headers([], host=b"h"), b"", TIMEOUTS)
    assert server.connections == 0


async def test_send_refuses_unsupported_schemes_and_a_closed_transport() -> None:
    transport = PooledHTTP11Transport()
    block = encode_headers([], host=b"h")
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.send(("ftp", "127.0.0.1", 21), b"GET", b"/", block, b"", TIMEOUTS)
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.send(("http", "127.0.0.1", 80), b"GET", b"/", block, b"", TIMEOUTS)


def test_encode_headers_adds_host_first_only_when_none_is_given() -> None:
    assert encode_headers([(b"Accept", b"*/*")], host=b"h:1").encoded == b"Host: h:1\r\nAccept: */*\r\n"
    given = encode_headers([(b"Accept", b"*/*"), (b"HOST", b"other")], host=b"h:1")
    assert given.encoded == b"Accept: */*\r\nHOST: other\r\n"
    assert given.fields == ((b"Accept", b"*/*"), (b"HOST", b"other"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([(b"Transfer-Encoding", b"gzip")], "unsupported request Transfer-Encoding"),
        ([(b"Content-Length", b"2"), (b"Transfer-Encoding", b"chunked")], "both Content-Length and Transfer-Encoding"),
        ([(b"Content-Length", b"2"), (b"Content-Length", b"3")], "invalid request Content-Length"),
        ([(b"Content-Length", b"+2")], "invalid request Content-Length"),
        ([(b"Bad Name", b"x")], "invalid header name"),
        ([(b"", b"x")], "invalid header name"),
    ],
)
def test_encode_headers_refuses_ambiguous_framing_and_malformed_names(
    fields: list[tuple[bytes, bytes]], message: str
) -> None:
    with pytest.raises(httpx.LocalProtocolError, match=message):
        encode_headers(fields, host=b"h")


TOKEN_BYTES = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# RFC 9110 §5.5: a field value holds no control character but HTAB; obs-text (0x80-0xff) is allowed
FORBIDDEN_IN_VALUES = set(range(0x00, 0x09)) | set(range(0x0A, 0x20)) | {0x7F}


@settings(max_examples=300)
@given(
    name=st.one_of(st.binary(min_size=1, max_size=12), st.text(TOKEN_BYTES.decode(), min_size=1).map(str.encode)),
    value=st.one_of(st.binary(max_size=24), st.text(max_size=24).map(lambda t: t.encode("utf-8"))),
)
def test_a_field_is_encoded_exactly_when_its_name_is_a_token_and_its_value_has_no_control_character(
    name: bytes, value: bytes
) -> None:
    acceptable = all(byte in TOKEN_BYTES for byte in name) and not FORBIDDEN_IN_VALUES & set(value)
    if name.lower() in (b"content-length", b"transfer-encoding"):
        return  # framing fields have rules of their own (above)
    try:
        block = encode_headers([(name, value)], host=b"h")
    except httpx.LocalProtocolError:
        assert not acceptable
    else:
        assert acceptable
        assert block.encoded.endswith(name + b": " + value + b"\r\n")


# real servers: uvicorn and TLS


async def test_against_uvicorn_sequential_and_concurrent_requests_share_the_pool(
    vehicle_cloud: BackgroundServer,
) -> None:
    transport = PooledHTTP11Transport(max_connections=4)
    sequential = [(await send(transport, "GET", vehicle_cloud.url + "/peer")).json()["port"] for _ in range(5)]
    record = await send(transport, "GET", vehicle_cloud.url + "/customers/cust-1001")
    concurrent = await asyncio.gather(*(send(transport, "GET", vehicle_cloud.url + "/peer") for _ in range(16)))
    chunked = await send(transport, "GET", vehicle_cloud.url + "/big-chunked", params={"size": "5000"})
    await transport.aclose()
    assert len(set(sequential)) == 1
    assert record.json()["name"] == "Li Wei"
    assert len({response.json()["port"] for response in concurrent}) <= 4
    assert len(chunked.json()["blob"]) == 5000


@dataclass
class Certificate:
    cert_pem: bytes
    key_pem: bytes


def self_signed(host: str) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Certificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Certificate]]:
    certificate = self_signed("127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(certificate.cert_pem)
    (tmp_path / "key.pem").write_bytes(certificate.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    async with RawServer(answer(OK), tls=context) as server:
        yield server.url, certificate


async def test_tls_with_a_trusted_certificate(tls_server: tuple[str, Certificate]) -> None:
    url, certificate = tls_server
    transport = PooledHTTP11Transport(ssl_context=ssl.create_default_context(cadata=certificate.cert_pem.decode()))
    responses = [await send(transport, "GET", url) for _ in range(3)]
    await transport.aclose()
    assert [r.content for r in responses] == [b"ok"] * 3


async def test_tls_verification_fails_for_an_untrusted_certificate(tls_server: tuple[str, Certificate]) -> None:
    url, _ = tls_server
    transport = PooledHTTP11Transport()  # the system's trust store: the self-signed certificate is unknown
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await send(transport, "GET", url)
    await transport.aclose()


# property: chunked transfer coding (RFC 9112 §7.1)


def chunk_encode(chunks: list[bytes], extensions: list[bool]) -> bytes:
    out = b""
    for chunk, extended in zip(chunks, extensions, strict=True):
        out += b"%x%b\r\n%b\r\n" % (len(chunk), b";ext=1" if extended else b"", chunk)
    return out + b"0\r\nX-Trailer: t\r\n\r\n"


async def round_trip(encoded: bytes, cuts: list[int]) -> tuple[bytes, int]:
    """Serve ``encoded`` cut into TCP writes at ``cuts``, twice, and return the body and the connection count."""

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        start = 0
        for cut in [*sorted(cuts), len(encoded)]:
            writer.write(encoded[start:cut])
            await writer.drain()
            await asyncio.sleep(0)
            start = cut
        return True

    transport = PooledHTTP11Transport()
    async with RawServer(reply) as server:
        first = await send(transport, "GET", server.url)
        second = await send(transport, "GET", server.url)
    await transport.aclose()
    assert first.content == second.content
    return first.content, server.connections


@settings(max_examples=60)
@given(
    body=st.binary(max_size=3000),
    data=st.data(),
)
def test_any_body_in_any_chunking_round_trips(body: bytes, data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(1, 700), max_size=20))
    chunks, start = [], 0
    for size in sizes:
        if start < len(body):
            chunks.append(body[start : start + size])
            start += size
    if start < len(body):
        chunks.append(body[start:])
    extensions = data.draw(st.lists(st.booleans(), min_size=len(chunks), max_size=len(chunks)))
    encoded = chunk_encode(chunks, extensions)
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=8))
    received, connections = asyncio.run(round_trip(encoded, cuts))
    assert received == body
    assert connections == 1


async def test_many_small_chunks_read_slowly_are_all_read(transport: PooledHTTP11Transport) -> None:
    """Flow control with chunked framing: reading must resume even when lines, not data, drain the buffer."""
    chunks = [bytes([n % 256]) * 7 for n in range(60_000)]  # ~0.8 MB framed
    framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk_encode(chunks, [False] * len(chunks))
    async with RawServer(answer(framed)) as server:
        response = await transport.handle_async_request(build("GET", server.url))
        assert await read_slowly(response, pause_every=20_000) == b"".join(chunks)


# what llhttp (httptools) reads, and the rules kept on top of it


@pytest.mark.parametrize(
    "status_line",
    [
        b"RTSP/1.0 200 OK",  # llhttp reads RTSP and ICE as well as HTTP
        b"ICE/1.0 200 OK",
        b"HTTP/0.9 200 OK",  # and versions 0.9 and 2.0
        b"HTTP/2.0 200 OK",
        b"HTTP/1.1 099 OK",  # and status codes from 000
        b"HTTP/1.1 000 OK",
        b"HTTP/1.1 200 O\x00K",  # and NUL, other controls and DEL in the reason phrase
        b"HTTP/1.1 200 O\x01K",
        b"HTTP/1.1 200 O\x7fK",
        b"HTTP/1.2 200 OK",  # refused by llhttp itself
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1\t200 OK",
        b"http/1.1 200 OK",
        b"HTTP/1.1 1000 OK",
        b"\r\nHTTP/1.1 200 OK",
    ],
)
async def test_status_lines_llhttp_reads_but_rfc_9112_does_not_allow_are_refused(
    transport: PooledHTTP11Transport, status_line: bytes
) -> None:
    async with RawServer(answer(status_line + b"\r\nContent-Length: 2\r\n\r\nok", keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed status line"):
            await send(transport, "GET", server.url)


@pytest.mark.parametrize(
    "reason", [b"", b" ", b"Not Found", b"caf\xc3\xa9", b"tab\there"], ids=["none", "empty", "words", "utf8", "tab"]
)
async def test_a_reason_phrase_of_text_is_read_as_sent(transport: PooledHTTP11Transport, reason: bytes) -> None:
    status_line = b"HTTP/1.1 404" + (b" " + reason.strip(b" ") if reason else b"")
    async with RawServer(answer(status_line + b"\r\nContent-Length: 2\r\n\r\nok")) as server:
        response = await transport.send(origin(server.url), b"GET", b"/", encode_headers([], host=b"h"), b"", TIMEOUTS)
    assert (response.status, response.reason, response.body) == (404, reason.strip(b" "), b"ok")


@pytest.mark.parametrize(
    "field_lines",
    [
        b"X-Bare-Lf: a\nContent-Length: 5\r\n",  # a lenient reader would see a second field here
        b"X-Bare-Cr: a\rContent-Length: 5\r\n",
        b"X-Space-Before-Colon : a\r\n",
        b" X-Leading-Space: a\r\n",  # whitespace before the first field line (RFC 9112 §2.2)
        b"Transfer-Encoding: \r\n",
        b"Content-Length: 2\r\nX-Bare-Lf: a\nContent-Length: 2\r\n",  # the repair path refuses it too
    ],
)
async def test_field_lines_llhttp_refuses_are_protocol_errors(
    transport: PooledHTTP11Transport, field_lines: bytes
) -> None:
    response = b"HTTP/1.1 200 OK\r\n" + field_lines + b"\r\nok"
    async with RawServer(answer(response, keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed header field"):
            await send(transport, "GET", server.url)


async def test_whitespace_around_a_field_value_is_not_part_of_it(transport: PooledHTTP11Transport) -> None:
    """llhttp drops the whitespace before a value and keeps the whitespace after it; neither is the value."""
    response = b"HTTP/1.1 200 OK\r\nX-Padded:\t a b \t\r\nContent-Length: 2 \r\n\r\nok"
    async with RawServer(answer(response)) as server:
        raw = await transport.send(origin(server.url), b"GET", b"/", encode_headers([], host=b"h"), b"", TIMEOUTS)
    assert raw.headers == [(b"X-Padded", b"a b"), (b"Content-Length", b"2")]
    assert raw.body == b"ok"


@pytest.mark.parametrize(
    ("response", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", b"ok"),
        (b"HTTP/1.1 204 No Content\r\nX-Folded: a\r\n\tb\r\n\r\n", b""),  # llhttp itself would keep this one
    ],
    ids=["obs-fold", "list", "repeated", "obs-fold-204"],
)
async def test_a_head_read_only_after_a_repair_is_never_followed_on_its_connection(
    transport: PooledHTTP11Transport, response: bytes, body: bytes
) -> None:
    """llhttp refuses these legacy forms; we read them (RFC 9112 §5.2, RFC 9110 §8.6) but trust them no further."""
    async with RawServer(answer(response, OK)) as server:
        first = await transport.send(origin(server.url), b"GET", b"/", encode_headers([], host=b"h"), b"", TIMEOUTS)
        second = await send(transport, "GET", server.url)
    assert (first.body, second.content) == (body, b"ok")
    assert [name.lower() for name, _ in first.headers].count(b"content-length") == response.lower().count(
        b"content-length"
    )
    assert server.connections == 2


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",  # llhttp would keep it
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 2\r\n\r\nok",
    ],
    ids=["1.0-keep-alive-and-close", "1.0-transfer-encoding", "1.1-close-in-a-list"],
)
async def test_connections_that_say_close_or_frame_a_1_0_body_by_chunks_are_not_reused(
    transport: PooledHTTP11Transport, response: bytes
) -> None:
    async with RawServer(answer(response)) as server:
        responses = [await send(transport, "GET", server.url) for _ in range(2)]
    assert [r.content for r in responses] == [b"ok"] * 2
    assert server.connections == 2


@pytest.mark.parametrize(
    "coding",
    [b"chunked, gzip", b"chunked;q=1", b'"chunked"', b"chunkedx", b"chunked,"],
)
async def test_a_transfer_coding_list_not_ending_in_chunked_is_read_until_close(
    transport: PooledHTTP11Transport, coding: bytes
) -> None:
    """llhttp's rule and ours: chunked only as the final coding; anything else runs to the end of the connection."""
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    async with RawServer(answer(response, keep_open=False)) as server:
        responses = [await send(transport, "GET", server.url) for _ in range(2)]
    assert [r.content for r in responses] == [b"2\r\nok\r\n0\r\n\r\n"] * 2
    assert server.connections == 2


@pytest.mark.parametrize(
    "coding",
    [b"gzip, chunked", b", chunked", b"CHUNKED", b"chunked "],
)
async def test_chunked_as_the_final_coding_is_decoded(transport: PooledHTTP11Transport, coding: bytes) -> None:
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    async with RawServer(answer(response)) as server:
        responses = [await send(transport, "GET", server.url) for _ in range(2)]
    assert [r.content for r in responses] == [b"ok"] * 2
    assert server.connections == 1


@pytest.mark.parametrize(
    ("chunked_body", "message"),
    [
        (b"2 ;a=b\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),  # llhttp refuses BWS around ";"
        (b"2; a=b\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"2 \r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"0x2\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"-2\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"2\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"2;a=\x01\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),
        (b"1" * 17 + b"\r\nok\r\n0\r\n\r\n", "malformed chunk-size line"),  # beyond 64 bits
        (b"2\r\nok\n0\r\n\r\n", "not followed by CRLF"),
        (b"2\r\nok\r\n0\r\nBad Name: x\r\n\r\n", "malformed trailer section"),
        (b"2\r\nok\r\n0\r\nContent-Length: 9\r\n\r\n", "malformed trailer section"),  # framing is not a trailer
    ],
)
async def test_chunked_framing_llhttp_refuses_is_a_protocol_error(
    transport: PooledHTTP11Transport, chunked_body: bytes, message: str
) -> None:
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body
    async with RawServer(answer(response, keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await send(transport, "GET", server.url)


@pytest.mark.parametrize(
    "chunked_body",
    [
        b"1" + b";name=value" * 10_000 + b"\r\nx\r\n0\r\n\r\n",  # one chunk-size line of 110 kB
        b"1\r\nx\r\n0\r\n" + b"X-Trailer: " + b"t" * 1000 + b"\r\n" * 1 + b"X-More: 1\r\n" * 10_000 + b"\r\n",
    ],
    ids=["extensions", "trailers"],
)
async def test_chunked_framing_that_outgrows_its_content_is_refused(
    transport: PooledHTTP11Transport, chunked_body: bytes
) -> None:
    """llhttp bounds neither chunk extensions nor trailers; without a bound a server could keep us reading."""
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body
    async with RawServer(answer(response, keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="chunked framing of"):
            await send(transport, "GET", server.url)


async def test_more_interim_responses_than_the_limit_are_a_protocol_error(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 17 + OK, keep_open=False)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="interim"):
            await send(transport, "GET", server.url)


async def test_an_interim_status_llhttp_has_no_name_for_is_skipped_too(transport: PooledHTTP11Transport) -> None:
    async with RawServer(answer(b"HTTP/1.1 199 Whatever\r\nX-Interim: 1\r\n\r\n" + OK)) as server:
        response = await send(transport, "GET", server.url)
        await send(transport, "GET", server.url)
    assert (response.status_code, response.content, "x-interim" in response.headers) == (200, b"ok", False)
    assert server.connections == 1


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",  # llhttp stops here with an error rather than an upgrade
    ],
)
async def test_a_101_answer_ends_the_connection_and_what_follows_is_never_a_response(
    transport: PooledHTTP11Transport, head: bytes
) -> None:
    async with RawServer(answer(head + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged", OK)) as server:
        switched = await send(transport, "GET", server.url)
        after = await send(transport, "GET", server.url)
    assert (switched.status_code, switched.content) == (101, b"")
    assert after.content == b"ok"
    assert server.connections == 2


FORGED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"


@pytest.mark.parametrize(
    ("method", "response"),
    [
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n"),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n"),
    ],
    ids=["content-length", "chunked", "chunked-trailer", "head", "204", "304"],
)
async def test_a_response_smuggled_after_another_never_answers_the_next_request(
    transport: PooledHTTP11Transport, method: str, response: bytes
) -> None:
    async with RawServer(answer(response + FORGED, OK)) as server:
        await send(transport, method, server.url)
        after = await send(transport, "GET", server.url)
    assert after.content == b"ok"
    assert server.connections == 2


# properties: any delivery of a valid response reads the same, and nothing after its end is ever a response

FIELD_NAME = st.text(TOKEN_BYTES.decode(), min_size=1, max_size=12).filter(
    lambda name: (
        name.lower()
        not in {"content-length", "transfer-encoding", "connection", "upgrade", "proxy-connection", "keep-alive"}
    )
)
FIELD_VALUE = st.lists(
    st.binary(min_size=1, max_size=8).map(lambda word: bytes(b for b in word if b > 0x20 and b != 0x7F) or b"v"),
    max_size=3,
).map(b" ".join)


@dataclass
class Sent:
    """A valid response as written on the wire, and what the transport must make of it."""

    wire: bytes
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


@st.composite
def valid_responses(draw: st.DrawFn) -> Sent:
    status = draw(st.sampled_from([200, 201, 203, 206, 400, 403, 404, 409, 410, 500, 503]))
    reason = draw(st.sampled_from([b"", b"OK", b"Some Reason", b"caf\xc3\xa9"]))
    fields = [(name.encode(), value) for name, value in draw(st.lists(st.tuples(FIELD_NAME, FIELD_VALUE), max_size=5))]
    body = draw(st.binary(max_size=3000))
    if draw(st.booleans()):
        framing = [(b"Content-Length", b"%d" % len(body))]
        encoded = body
    else:
        framing = [(b"Transfer-Encoding", b"chunked")]
        sizes = draw(st.lists(st.integers(1, 700), max_size=12))
        chunks, start = [], 0
        for size in [*sizes, len(body)]:
            if start < len(body):
                chunks.append(body[start : start + size])
                start += size
        extensions = [draw(st.sampled_from([b"", b";x=1", b';q="a;b"', b";flag"])) for _ in chunks]
        trailers = draw(st.lists(st.tuples(FIELD_NAME, FIELD_VALUE), max_size=2))
        encoded = b"".join(b"%x%b\r\n%b\r\n" % (len(c), e, c) for c, e in zip(chunks, extensions, strict=True))
        encoded += b"0\r\n" + b"".join(b"%b: %b\r\n" % (n.encode(), v) for n, v in trailers) + b"\r\n"
    headers = [*framing, *fields]
    status_line = b"HTTP/1.1 %d" % status + (b" " + reason if reason else b"")
    head = status_line + b"\r\n" + b"".join(b"%b: %b\r\n" % field for field in headers) + b"\r\n"
    return Sent(head + encoded, status, reason, headers, body)


async def deliver(sent: Sent, cuts: list[int], after: bytes) -> tuple[RawResponse, bytes, RawServer]:
    """Serve ``sent`` cut into writes at ``cuts`` with ``after`` glued to its last write, then OK; read both."""

    async def reply(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.connection > 1 or len(server.seen) > 1:
            writer.write(OK)
            return True
        start = 0
        for cut in sorted(set(cuts)):
            writer.write(sent.wire[start:cut])
            await writer.drain()
            await asyncio.sleep(0)
            start = cut
        writer.write(sent.wire[start:] + after)
        return True

    block = encode_headers([], host=b"h")
    async with PooledHTTP11Transport() as transport, RawServer(reply) as server:
        first = await transport.send(origin(server.url), b"GET", b"/", block, b"", TIMEOUTS)
        if not isinstance(first.body, bytes):
            first.body = b"".join([piece async for piece in first.body])
        second = await transport.send(origin(server.url), b"GET", b"/", block, b"", TIMEOUTS)
        assert isinstance(second.body, bytes)
        return first, second.body, server


@settings(max_examples=60, deadline=None)
@given(sent=valid_responses(), data=st.data())
def test_a_valid_response_cut_anywhere_reads_the_same_and_keeps_its_connection(sent: Sent, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(1, len(sent.wire) - 1), max_size=8))
    first, second, server = asyncio.run(deliver(sent, cuts, b""))
    assert (first.status, first.version, first.reason) == (sent.status, b"HTTP/1.1", sent.reason)
    assert (first.headers, first.body) == (sent.headers, sent.body)
    assert second == b"ok"
    assert server.connections == 1


@settings(max_examples=60, deadline=None)
@given(
    sent=valid_responses(),
    after=st.one_of(
        st.binary(min_size=1, max_size=64),
        st.sampled_from([FORGED, b"\r\n" + FORGED, b"0\r\n\r\n" + FORGED, b"HTTP/1.1 200 OK\r\n"]),
    ),
    data=st.data(),
)
def test_bytes_after_the_end_of_a_response_never_answer_the_next_request(
    sent: Sent, after: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(1, len(sent.wire) - 1), max_size=8))
    first, second, server = asyncio.run(deliver(sent, cuts, after))
    assert first.body == sent.body
    assert second == b"ok"
    if after.strip(b"\r\n"):
        assert server.connections == 2  # llhttp passes over bare CRLFs between messages; anything else is stray
