"""An HTTP/1.1 (RFC 9112) client transport with a lean keep-alive pool, for the proxy's upstream calls.

httpx's default transport (httpcore on anyio) costs about ten times the CPU of the exchange itself on a
kept-alive connection, and it probes every pooled connection with a syscall on each request; building httpx's
URL, header, request and response objects for every call costs a good part of what is left. So the entry
point works on bytes: ``send(origin, method, target, headers, body, timeouts)`` takes the origin-form target
and a ``HeaderBlock`` (fields checked and encoded once by ``encode_headers``, so a caller keeps its constant
ones) and returns a ``RawResponse`` (status, raw fields, the body as bytes or a stream). Errors are httpx's
exception types. ``handle_async_request`` keeps the transport an ``httpx.AsyncBaseTransport``, as a thin
adapter over ``send``. The exchange runs directly on an ``asyncio.Protocol``:

- one pool per origin: at most ``max_connections`` open (waiting for a slot longer than the pool timeout is
  ``httpx.PoolTimeout``), at most ``max_keepalive_connections`` idle, idle connections reused last-in
  first-out. Whether an idle connection is still usable is known from the protocol's own callbacks (the
  peer's EOF or reset, stray bytes) and its idle age, so choosing one costs no system call.
- a reused connection can still have been closed by the server while our request was on its way. When that
  happens before any byte of a response arrived, an idempotent request (RFC 9110 §9.2.2) with a replayable
  body is sent once more on a fresh connection; anything else surfaces the error.
- each wait is bounded by the request's timeouts (connect, read, write, pool) and raises the matching httpx
  timeout. Waits for data, for the write buffer to drain and for a pool slot are timers on
  the awaited future (no task and no cancellation per request); connecting runs under ``asyncio.timeout``.
- response framing follows RFC 9112 §6.3; anything ambiguous (invalid or conflicting lengths, a malformed
  head, an oversized header section) is ``httpx.RemoteProtocolError`` and the connection is dropped, because
  a gateway that guesses where a response ends can be fed a second, forged one.
- a body that arrived whole with the head is returned as bytes; any other is streamed as it arrives, so a
  caller's size cap stops reading early. Reading a stream to the end returns the connection to the pool;
  closing it before the end closes the connection, since the unread rest would otherwise be taken for the
  next response.

Only what the proxy needs is implemented: no proxies, no HTTP/2, no upgrades (a 101 answer ends the
connection), no ``Expect: 100-continue`` on our side (interim responses are skipped when a server sends them).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import httpx

__all__ = [
    "IDEMPOTENT_METHODS",
    "HeaderBlock",
    "Origin",
    "PooledHTTP11Transport",
    "RawResponse",
    "encode_headers",
    "origin_of",
]

# scheme, host and port: one pool each
Origin = tuple[str, str, int]
Timeouts = Mapping[str, float | None]

# RFC 9110 §9.2.2: the safe methods plus PUT and DELETE; retried and replayed, never any other
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_IDEMPOTENT: Final = frozenset(m.encode("ascii") for m in IDEMPOTENT_METHODS)
# RFC 9110 §8.6: a user agent sends Content-Length (even 0) when the method defines a meaning for a body
_BODY_EXPECTED: Final = frozenset({b"POST", b"PUT", b"PATCH"})
_KNOWN_METHODS: Final = _IDEMPOTENT | _BODY_EXPECTED
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 9110 §5.6.2 token: methods and field names.
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 §5.5: a field value holds no control character but HTAB (CR and LF are counted separately)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# RFC 9112 §3.2: the request-target is visible ASCII; a space, CR, LF or NUL in it would end or split the line
_NOT_TARGET = re.compile(rb"[^\x21-\x7e]")
# RFC 9112 §4 status-line; the reason phrase may be empty and some servers omit the space before it.
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?")
# A whole header section of well-formed field lines (RFC 9112 §5): token ":" OWS field-value OWS CRLF, where a
# field value holds visible characters, SP, HTAB and obs-text, never NUL, CR, LF or other controls.
_FIELD_SECTION = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_FIELD_LINE = re.compile(rb"([^:\r\n]+):[\t ]*([^\r\n]*)\r\n")
# RFC 9112 §7.1 chunk-size [ chunk-ext ]; extensions are allowed and ignored.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?")
_MAX_CHUNK_LINE: Final = 4096
_MAX_INTERIM: Final = 16
_READ_HIGH_WATER: Final = 256 * 1024
_READ_LOW_WATER: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """Request header fields, checked and encoded once: ``encoded`` is their field lines (Host first when it
    had to be added), ``fields`` the pairs as given (for transports that want them), and what framing needs."""

    fields: tuple[tuple[bytes, bytes], ...]
    encoded: bytes
    has_length: bool
    length: int | None
    chunked: bool


def encode_headers(fields: Iterable[tuple[bytes, bytes]], *, host: bytes) -> HeaderBlock:
    """Check and encode request header fields (RFC 9112 §5); ``Host: host`` is added when none is given.

    ``httpx.LocalProtocolError`` for a name that is not a token, a CR, LF, NUL or other control character
    in a value (it would start another header or request: smuggling), a Transfer-Encoding other than chunked,
    both Content-Length and Transfer-Encoding, or a Content-Length that is not one decimal number.
    """
    given = tuple(fields)
    parts: list[bytes] = []
    has_host = has_length = chunked = False
    lengths: set[bytes] = set()
    for name, value in given:
        if _TOKEN.fullmatch(name) is None:
            raise httpx.LocalProtocolError(f"invalid header name {name[:40]!r}")
        if len(name) in (4, 14, 17):
            lowered = name.lower()
            has_host = has_host or lowered == b"host"
            if lowered == b"content-length":
                has_length = True
                lengths.add(value.strip())
            if lowered == b"transfer-encoding":
                if value.strip().lower() != b"chunked":
                    raise httpx.LocalProtocolError(f"unsupported request Transfer-Encoding {value[:40]!r}")
                chunked = True
        parts += (name, b": ", value, b"\r\n")
    lines = len(given)
    if not has_host:
        parts[0:0] = (b"Host: ", host, b"\r\n")
        lines += 1
    if has_length and chunked:
        raise httpx.LocalProtocolError("a request cannot have both Content-Length and Transfer-Encoding")
    length: int | None = None
    if has_length:
        # one value, digits only: the length frames the body, so it must be exactly the bytes that follow
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise httpx.LocalProtocolError(f"invalid request Content-Length {sorted(lengths)!r}")
        length = int(next(iter(lengths)))
    encoded = b"".join(parts)
    # every CR and LF must be one of the line ends we wrote
    if encoded.count(b"\r") != lines or encoded.count(b"\n") != lines or _CONTROL.search(encoded):
        raise httpx.LocalProtocolError("a control character inside a request header")
    return HeaderBlock(given, encoded, has_length, length, chunked)


def origin_of(url: httpx.URL) -> Origin:
    """The pool key of an absolute URL: scheme, host and port (the scheme's default when none is given)."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0)


class RawResponse:
    """A response as read: status, the raw header fields, and the body.

    ``body`` is bytes when the whole body had arrived with the head (the usual small JSON answer), else a stream
    to iterate; reading it to its end returns the connection to the pool, ``aclose`` before that closes it.
    """

    __slots__ = ("body", "headers", "reason", "status", "version")

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes | httpx.AsyncByteStream,
        *,
        version: bytes = b"HTTP/1.1",
        reason: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.version = version
        self.reason = reason

    async def aclose(self) -> None:
        if not isinstance(self.body, bytes):
            await self.body.aclose()


class _Expired(Exception):
    """Set on an awaited future by its timer: the wait took longer than its timeout."""


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())


class _NoResponse(Exception):
    """A reused connection failed before any response byte arrived; the request may be sent again."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _Connection(asyncio.Protocol):
    """One TCP or TLS connection: a receive buffer filled by the event loop and flags it keeps current."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _READ_HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        self.error = exc
        self._wake()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # used by the transport

    @property
    def usable_when_idle(self) -> bool:
        """Still open, no EOF, and no stray bytes: a server that spoke while idle is closing or confused."""
        return not (self.eof or self.buffer) and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            # close() would keep the socket open until unsent request bytes are written: a server that never
            # reads would pin it forever, and one that reads later would get the request we gave up on
            if self.transport.get_write_buffer_size():
                self.transport.abort()
            else:
                self.transport.close()

    def consumed(self) -> None:
        """Resume reading once the buffer has been drained below the low-water mark."""
        if self._read_paused and len(self.buffer) < _READ_LOW_WATER and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    async def receive(self, timeout: float | None) -> None:
        """Wait until more bytes, EOF or loss arrive; ``httpx.ReadTimeout`` after ``timeout`` seconds."""
        if self.eof:
            return
        if self._read_paused and self.transport is not None:
            # whatever the buffer holds is not enough to go on, so more must be read whatever its size
            self._read_paused = False
            self.transport.resume_reading()
        waiter = self.loop.create_future()
        self._waiter = waiter
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        except _Expired:
            raise httpx.ReadTimeout(f"no data from the server within {timeout} s") from None
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; wait (``httpx.WriteTimeout`` after ``timeout``) only if the send buffer is full."""
        if self.lost or self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("the connection was closed before the request was sent")
        self.transport.write(data)
        if not self._write_paused:
            return
        waiter = self.loop.create_future()
        self._drain_waiter = waiter
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        except _Expired:
            raise httpx.WriteTimeout(f"the server did not accept the request within {timeout} s") from None
        finally:
            self._drain_waiter = None
            if timer is not None:
                timer.cancel()
        if self.lost:
            raise httpx.WriteError(f"the connection was lost while sending: {self.error or 'closed by peer'}")

    def read_error(self, what: str) -> httpx.TransportError:
        """The error for a connection that ended while ``what`` was being read."""
        if self.error is not None:
            return httpx.ReadError(f"connection lost while reading {what}: {self.error}")
        return httpx.RemoteProtocolError(f"the server closed the connection before sending {what}")


class _Pool:
    """Connections to one origin: a slot count, idle connections (LIFO) and first-come waiters for a slot."""

    def __init__(
        self,
        transport: PooledHTTP11Transport,
        scheme: str,
        host: str,
        port: int,
    ) -> None:
        self._owner = transport
        self._scheme = scheme
        self._host = host
        self._port = port
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._slots = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()

    async def acquire(self, timeouts: Timeouts) -> tuple[_Connection, bool]:
        """A connection to send on and whether it is a reused one; waits for a free slot if all are taken."""
        idle = self._idle
        if idle:
            now = idle[-1].loop.time()
            expiry = self._owner.keepalive_expiry
            while idle:
                connection = idle.pop()
                if connection.usable_when_idle and now - connection.idle_since < expiry:
                    return connection, True
                # no waiter can exist while a connection is idle, so the slot simply becomes free
                self._forget(connection)
                self._slots -= 1
        if self._slots < self._owner.max_connections:
            self._slots += 1
            return await self._connect(timeouts), False
        handed = await self._wait_for_slot(timeouts.get("pool"))
        if handed is not None:
            return handed, True
        return await self._connect(timeouts), False

    async def _wait_for_slot(self, timeout: float | None) -> _Connection | None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            return await waiter
        except _Expired:
            raise httpx.PoolTimeout(f"no free connection to {self._host}:{self._port} within {timeout} s") from None
        except BaseException:
            # cancelled after being handed a connection or a slot: give it to the next in line
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is not None:
                    self.release(handed, reuse=True)
                else:
                    self._free_slot()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if not waiter.done():
                waiter.cancel()

    async def _connect(self, timeouts: Timeouts) -> _Connection:
        """Open a connection in a slot the caller already holds; the slot is freed if opening fails."""
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        timeout = timeouts.get("connect")
        tls = self._owner.ssl_context if self._scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: connection,
                    self._host,
                    self._port,
                    ssl=tls,
                    server_hostname=self._host if tls is not None else None,
                )
        except TimeoutError:
            connection.close()
            self._free_slot()
            raise httpx.ConnectTimeout(f"could not connect to {self._host}:{self._port} within {timeout} s") from None
        except OSError as exc:
            self._free_slot()
            raise httpx.ConnectError(f"could not connect to {self._host}:{self._port}: {exc}") from exc
        except BaseException:
            connection.close()
            self._free_slot()
            raise
        self._open.add(connection)
        return connection

    async def replace(self, stale: _Connection, timeouts: Timeouts) -> _Connection:
        """Close ``stale`` and open a fresh connection in its slot."""
        self._forget(stale)
        return await self._connect(timeouts)

    def release(self, connection: _Connection, *, reuse: bool) -> None:
        """Give back a connection after a response: to a waiter, to the idle list, or closed."""
        if reuse and connection.usable_when_idle and self._owner.open:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(connection)
                    return
            if len(self._idle) < self._owner.max_keepalive_connections:
                connection.idle_since = connection.loop.time()
                self._idle.append(connection)
                return
        self._forget(connection)
        self._free_slot()

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._slots -= 1

    def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("the transport was closed"))
        self._slots = 0


class _Head:
    """A parsed response head: what framing and reuse decisions need, and the raw fields."""

    __slots__ = ("chunked", "fields", "keep_alive", "length", "reason", "status", "version")

    def __init__(self, head: bytes) -> None:
        line_end = head.find(b"\r\n")
        match = _STATUS_LINE.fullmatch(head, 0, line_end)
        if match is None:
            raise httpx.RemoteProtocolError(f"malformed status line {head[:line_end][:100]!r}")
        minor, status, reason = match.groups()
        self.version = b"HTTP/1.1" if minor == b"1" else b"HTTP/1.0"
        self.status = int(status)
        self.reason = reason or b""
        section_start = line_end + 2
        if _FIELD_SECTION.fullmatch(head, section_start) is None:
            head = _unfold(head, section_start)
        self.fields: list[tuple[bytes, bytes]] = _FIELD_LINE.findall(head, section_start)
        if b" \r\n" in head or b"\t\r\n" in head:
            self.fields = [(name, value.rstrip(b"\t ")) for name, value in self.fields]
        lengths: list[bytes] = []
        codings: list[bytes] = []
        connection: list[bytes] = []
        for name, value in self.fields:
            if len(name) in (10, 14, 17):
                lowered = name.lower()
                if lowered == b"content-length":
                    lengths.append(value)
                elif lowered == b"transfer-encoding":
                    codings.append(value)
                elif lowered == b"connection":
                    connection.append(value)
        tokens = {token.strip().lower() for value in connection for token in value.split(b",")}
        if self.version == b"HTTP/1.1":
            self.keep_alive = b"close" not in tokens
        else:
            self.keep_alive = b"keep-alive" in tokens and b"close" not in tokens
        self.chunked = False
        self.length: int | None = None
        if codings:
            if lengths:
                # RFC 9112 §6.3 ¶3: a smuggling or splitting attempt; never guess which framing is meant
                raise httpx.RemoteProtocolError("response has both Transfer-Encoding and Content-Length")
            final = b",".join(codings).rsplit(b",", 1)[-1].strip().lower()
            self.chunked = final == b"chunked"
            if self.version == b"HTTP/1.0":
                # RFC 9112 §6.1: framing of a 1.0 message with Transfer-Encoding is suspect; do not reuse
                self.keep_alive = False
        elif lengths:
            values = {value.strip() for joined in lengths for value in joined.split(b",")}
            if len(values) != 1:
                raise httpx.RemoteProtocolError(f"conflicting Content-Length values {sorted(values)!r}")
            (value,) = values
            if not value.isdigit() or len(value) > 18:
                raise httpx.RemoteProtocolError(f"invalid Content-Length {value[:40]!r}")
            self.length = int(value)


def _unfold(head: bytes, start: int) -> bytes:
    """Replace obs-fold (RFC 9112 §5.2) with a space, then require a well-formed section."""
    unfolded = head[:start] + re.sub(rb"\r\n[\t ]+", b" ", head[start:])
    if _FIELD_SECTION.fullmatch(unfolded, start) is None:
        raise httpx.RemoteProtocolError("malformed header field in the response")
    return unfolded


class _Body(httpx.AsyncByteStream):
    """A response body read from the connection as the caller iterates; the connection is released at the end."""

    def __init__(
        self,
        pool: _Pool,
        connection: _Connection,
        head: _Head,
        read_timeout: float | None,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._keep_alive = head.keep_alive
        self._timeout = read_timeout
        self._chunked = head.chunked
        self._to_close = head.length is None and not head.chunked
        # content-length or the current chunk's remaining bytes; -1 means "read a chunk-size line next"
        self._remaining = head.length if head.length is not None else -1
        self._done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            if self._chunked:
                chunk = await self._next_chunk()
            elif self._to_close:
                chunk = await self._until_close()
            else:
                chunk = await self._next_bytes()
        except BaseException:
            self._finish(reuse=False)
            raise
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        # before the end, the unread rest is still on the wire: the connection cannot carry another response
        self._finish(reuse=False)

    def _finish(self, *, reuse: bool) -> None:
        if not self._done:
            self._done = True
            self._pool.release(self._connection, reuse=reuse and not self._connection.buffer)

    def _take(self, size: int) -> bytes:
        connection = self._connection
        buffer = connection.buffer
        if size >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:size])
            del buffer[:size]
        connection.consumed()
        return data

    async def _next_bytes(self) -> bytes:
        if self._remaining == 0:
            self._finish(reuse=self._keep_alive)
            return b""
        connection = self._connection
        while not connection.buffer:
            if connection.eof:
                raise connection.read_error("the whole response body")
            await connection.receive(self._timeout)
        data = self._take(self._remaining)
        self._remaining -= len(data)
        if self._remaining == 0:
            self._finish(reuse=self._keep_alive)
        return data

    async def _until_close(self) -> bytes:
        connection = self._connection
        while not connection.buffer:
            if connection.eof:
                if connection.error is not None:
                    raise httpx.ReadError(f"connection lost while reading the response body: {connection.error}")
                self._finish(reuse=False)
                return b""
            await connection.receive(self._timeout)
        return self._take(len(connection.buffer))

    async def _line(self, limit: int, what: str) -> bytes:
        connection = self._connection
        searched = 0
        while True:
            end = connection.buffer.find(b"\r\n", searched)
            if end >= 0:
                line = bytes(connection.buffer[:end])
                del connection.buffer[: end + 2]
                return line
            searched = max(0, len(connection.buffer) - 1)
            if searched > limit:
                raise httpx.RemoteProtocolError(f"{what} longer than {limit} bytes")
            if connection.eof:
                raise connection.read_error(what)
            await connection.receive(self._timeout)

    async def _next_chunk(self) -> bytes:
        connection = self._connection
        while True:
            if self._remaining > 0:
                while not connection.buffer:
                    if connection.eof:
                        raise connection.read_error("the whole chunk")
                    await connection.receive(self._timeout)
                data = self._take(self._remaining)
                self._remaining -= len(data)
                if self._remaining == 0:
                    self._remaining = -2  # the CRLF that ends the chunk data comes next
                return data
            if self._remaining == -2:
                while len(connection.buffer) < 2:
                    if connection.eof:
                        raise connection.read_error("the end of a chunk")
                    await connection.receive(self._timeout)
                if connection.buffer[:2] != b"\r\n":
                    raise httpx.RemoteProtocolError("chunk data is not followed by CRLF")
                del connection.buffer[:2]
                self._remaining = -1
                continue
            line = await self._line(_MAX_CHUNK_LINE, "a chunk-size line")
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                raise httpx.RemoteProtocolError(f"malformed chunk-size line {line[:40]!r}")
            size = int(match.group(1), 16)
            if size:
                self._remaining = size
                continue
            # last-chunk: skip the trailer section (RFC 9112 §7.1.2) up to its empty line
            trailer_bytes = 0
            while trailer := await self._line(_MAX_CHUNK_LINE, "a trailer field"):
                trailer_bytes += len(trailer) + 2
                if trailer_bytes > _MAX_CHUNK_LINE * 16:
                    raise httpx.RemoteProtocolError("trailer section too large")
            self._finish(reuse=self._keep_alive)
            return b""


class PooledHTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over plain TCP or TLS with a per-origin keep-alive pool; see the module docstring.

    ``max_connections`` and ``max_keepalive_connections`` apply to each origin (scheme, host, port);
    an idle connection older than ``keepalive_expiry`` seconds is closed rather than reused, since servers
    drop idle connections on their own schedule (uvicorn after 5 s).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 4.0,
        max_header_bytes: int = 64 * 1024,
    ) -> None:
        if max_connections < 1 or max_keepalive_connections < 0 or max_header_bytes < 256:
            raise ValueError("max_connections >= 1, max_keepalive_connections >= 0, max_header_bytes >= 256")
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
            ssl_context.set_alpn_protocols(["http/1.1"])
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry
        self.max_header_bytes = max_header_bytes
        self.open = True
        self._pools: dict[Origin, _Pool] = {}

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: HeaderBlock,
        body: bytes | AsyncIterable[bytes],
        timeouts: Timeouts,
    ) -> RawResponse:
        """Send one request to ``origin`` and read the response head; the body follows as the caller reads it.

        ``target`` is the origin-form request-target (RFC 9112 §3.2.1: path and query, already
        percent-encoded), ``headers`` comes from ``encode_headers``, ``body`` is bytes (framed by
        Content-Length, replayable) or a stream (chunked unless the headers declare its length).
        """
        if not self.open:
            raise RuntimeError("the transport has been closed")
        pool = self._pools.get(origin)
        if pool is None:
            scheme, host, port = origin
            if scheme not in _DEFAULT_PORTS:
                raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
            pool = self._pools[origin] = _Pool(self, scheme, host, port)
        head, framed, replayable = _frame(method, target, headers, body)

        connection, reused = await pool.acquire(timeouts)
        try:
            return await self._exchange(pool, connection, method, head, framed, timeouts)
        except _NoResponse as failed:
            if not (reused and replayable and method in _IDEMPOTENT):
                pool.release(connection, reuse=False)
                raise failed.error from None
        # RFC 9110 §9.2.2: the server closed the kept-alive connection under us; an idempotent request may
        # be repeated, once, on a connection that is known to be new
        connection = await pool.replace(connection, timeouts)
        try:
            return await self._exchange(pool, connection, method, head, framed, timeouts)
        except _NoResponse as failed:
            pool.release(connection, reuse=False)
            raise failed.error from None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """``httpx.AsyncBaseTransport``: the request taken apart for ``send``, its answer wrapped for httpx."""
        if not self.open:
            raise RuntimeError("the transport has been closed")
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        method = request.method.encode("ascii")
        headers = encode_headers(request.headers.raw, host=url.netloc)
        timeouts: Timeouts = request.extensions.get("timeout") or {}
        raw = await self.send(origin_of(url), method, url.raw_path, headers, _request_body(request), timeouts)
        body = raw.body
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=httpx.ByteStream(body) if isinstance(body, bytes) else body,
            extensions={"http_version": raw.version, "reason_phrase": raw.reason},
        )

    async def _exchange(
        self,
        pool: _Pool,
        connection: _Connection,
        method: bytes,
        head: bytes,
        body: bytes | AsyncIterable[bytes],
        timeouts: Timeouts,
    ) -> RawResponse:
        """Send the request and read the response head; the connection is released on any failure.

        ``_NoResponse`` (connection gone before any response byte) leaves the connection to the caller.
        """
        read_timeout = timeouts.get("read")
        try:
            try:
                if isinstance(body, bytes):
                    await connection.send(head + body if len(body) < 16384 else head, timeouts.get("write"))
                    if len(body) >= 16384:
                        await connection.send(body, timeouts.get("write"))
                else:
                    await connection.send(head, timeouts.get("write"))
                    async for chunk in body:
                        await connection.send(chunk, timeouts.get("write"))
            except httpx.WriteError as exc:
                raise _NoResponse(exc) from exc
            parsed = await self._read_head(connection, read_timeout, first=True)
            interim = 0
            while 100 <= parsed.status < 200 and parsed.status != 101:
                interim += 1
                if interim > _MAX_INTERIM:
                    raise httpx.RemoteProtocolError(f"more than {_MAX_INTERIM} interim (1xx) responses")
                parsed = await self._read_head(connection, read_timeout, first=False)
        except _NoResponse:
            raise
        except BaseException:
            pool.release(connection, reuse=False)
            raise
        status = parsed.status
        if method == b"HEAD" or status in (204, 304) or status < 200:
            reuse = parsed.keep_alive and status != 101 and not connection.buffer
            pool.release(connection, reuse=reuse)
            return RawResponse(status, parsed.fields, b"", version=parsed.version, reason=parsed.reason)
        length = parsed.length
        if length is not None and len(connection.buffer) >= length:
            # the whole body is already here (the common case for small JSON answers): no stream machinery
            buffer = connection.buffer
            content = bytes(buffer) if length == len(buffer) else bytes(buffer[:length])
            del buffer[:length]
            connection.consumed()
            pool.release(connection, reuse=parsed.keep_alive and not buffer)
            return RawResponse(status, parsed.fields, content, version=parsed.version, reason=parsed.reason)
        stream = _Body(pool, connection, parsed, read_timeout)
        return RawResponse(status, parsed.fields, stream, version=parsed.version, reason=parsed.reason)

    async def _read_head(self, connection: _Connection, timeout: float | None, *, first: bool) -> _Head:
        """The next response head; ``_NoResponse`` if the connection ended before the first byte of the first."""
        buffer = connection.buffer
        limit = self.max_header_bytes
        searched = 0
        received_any = not first or bool(buffer)
        while True:
            end = buffer.find(b"\r\n\r\n", searched)
            if end > limit:
                raise httpx.RemoteProtocolError(f"response header section exceeds {limit} bytes")
            if end >= 0:
                head = bytes(buffer[: end + 2])
                del buffer[: end + 4]
                connection.consumed()
                return _Head(head)
            if len(buffer) > limit:
                raise httpx.RemoteProtocolError(f"response header section exceeds {limit} bytes")
            searched = max(0, len(buffer) - 3)
            if connection.eof:
                error = connection.read_error("a response")
                if not received_any:
                    raise _NoResponse(error)
                raise error
            await connection.receive(timeout)
            received_any = received_any or bool(buffer)

    async def aclose(self) -> None:
        self.open = False
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _request_body(request: httpx.Request) -> bytes | AsyncIterable[bytes]:
    """An httpx request's body: bytes when it is in memory (sized and replayable), else its async stream."""
    try:
        return request.content
    except httpx.RequestNotRead:
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            # an in-memory body given as a stream: still sized and replayable
            return b"".join(stream)
        if not isinstance(stream, httpx.AsyncByteStream):
            raise RuntimeError("an async transport needs an async request stream") from None
        return stream


def _frame(
    method: bytes, target: bytes, headers: HeaderBlock, body: bytes | AsyncIterable[bytes]
) -> tuple[bytes, bytes | AsyncIterable[bytes], bool]:
    """The request head (RFC 9112 §3, §6), the framed body and whether the body can be sent again."""
    if method not in _KNOWN_METHODS and _TOKEN.fullmatch(method) is None:
        raise httpx.LocalProtocolError(f"invalid method {method!r}")
    if not target or _NOT_TARGET.search(target):
        # a CR, LF or space in the target would let a caller's data start a header or a second request
        raise httpx.LocalProtocolError(f"a control character or space inside the request target {target[:40]!r}")
    framing = b""
    declared = headers.length
    if isinstance(body, bytes):
        if declared is not None and declared != len(body):
            raise httpx.LocalProtocolError(f"Content-Length {declared} does not match the {len(body)}-byte body")
        if headers.chunked:
            body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        elif not headers.has_length and (body or method in _BODY_EXPECTED):
            framing = b"Content-Length: %d\r\n" % len(body)
        return b"%b %b HTTP/1.1\r\n%b%b\r\n" % (method, target, headers.encoded, framing), body, True
    if declared is not None:
        body = _exactly(body, declared)
    else:
        if not headers.chunked:
            framing = b"Transfer-Encoding: chunked\r\n"
        body = _chunked(body)
    return b"%b %b HTTP/1.1\r\n%b%b\r\n" % (method, target, headers.encoded, framing), body, False


async def _exactly(stream: AsyncIterable[bytes], length: int) -> AsyncIterator[bytes]:
    """A streamed body under a declared Content-Length: more or fewer bytes would desynchronise the
    connection (the surplus read as a next request), so either is an error and the connection is dropped."""
    sent = 0
    async for chunk in stream:
        sent += len(chunk)
        if sent > length:
            raise httpx.LocalProtocolError(f"the request body exceeds its Content-Length of {length}")
        yield chunk
    if sent != length:
        raise httpx.LocalProtocolError(f"the request body has {sent} of its {length} declared bytes")


async def _chunked(stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        if chunk:
            yield b"%x\r\n%b\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"
