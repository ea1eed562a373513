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
- responses are read by llhttp, the C parser of Node.js, through ``httptools``: status line, fields, chunk
  sizes, extensions and trailers (``_Head``, ``_Chunks``). Where llhttp is more lenient than RFC 9112 or
  than we want, a check on what it read is added; where it is stricter, its refusal stands, but for two
  legacy forms RFC 9112 §5.2 and RFC 9110 §8.6 let a recipient repair. Framing follows RFC 9112 §6.3;
  anything ambiguous (invalid or conflicting lengths, a malformed head, an oversized header section, bytes
  after the end of a response) is ``httpx.RemoteProtocolError`` or ends the connection, because a gateway
  that guesses where a response ends can be fed a second, forged one.
- a body that arrived whole with the head is returned as bytes; any other is streamed as it arrives, so a
  caller's size cap stops reading early. Reading a stream to the end returns the connection to the pool;
  closing it before the end closes the connection, since the unread rest would otherwise be taken for the
  next response.

Only what the proxy needs is implemented: no proxies, no HTTP/2, no upgrades (a 101 answer ends the
connection), no ``Expect: 100-continue`` on our side (interim responses are skipped when a server sends them).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import httptools
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
# The bytes a request's parts may hold, for ``bytes.translate(None, allowed)``: what is left is what is not.
# RFC 9110 §5.6.2 tchar: methods and field names.
_TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# RFC 9110 §5.5: a field value holds no control character but HTAB (CR and LF are counted separately)
_FIELD_LINE_BYTES: Final = b"\t\n\r" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
# RFC 9112 §3.2: the request-target is visible ASCII; a space, CR, LF or NUL in it would end or split the line
_VCHAR: Final = bytes(range(0x21, 0x7F))
# RFC 9112 §4: what a reason phrase may hold (HTAB, SP, VCHAR, obs-text); llhttp lets NUL and DEL through
_REASON_BYTES: Final = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_VERSIONS: Final = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}
# the name a Content-Length field line gets while llhttp re-reads a head it refused (see _Head._tolerate)
_SET_ASIDE: Final = b"x-consentry-set-aside"
# llhttp bounds neither chunk extensions nor trailers: the bytes of a chunked body that are not content
# (size lines, extensions, CRLFs, trailer fields) may be this much plus a multiple of the content
_MAX_FRAMING_BYTES: Final = 64 * 1024
_FRAMING_PER_CONTENT_BYTE: Final = 16
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
        if not name or name.translate(None, _TCHAR):
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
    if encoded.count(b"\r") != lines or encoded.count(b"\n") != lines or encoded.translate(None, _FIELD_LINE_BYTES):
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
    """A response head as llhttp (through httptools) reads it, with the rules our framing adds on top.

    llhttp reads the status line and the field lines and refuses ambiguous framing: Transfer-Encoding with
    Content-Length, a repeated or malformed Content-Length, bare CR or LF, a control character in a value.
    It is more lenient than our rules in a few places, checked here: it also reads RTSP and ICE, HTTP/0.9 and
    2.0 and status codes 000-099, lets NUL and DEL into a reason phrase, keeps trailing whitespace in a field
    value and keeps an HTTP/1.0 connection that says both keep-alive and close. Two legacy forms it refuses
    are read as RFC 9112 §5.2 and RFC 9110 §8.6 allow (``_tolerate``).
    """

    __slots__ = (
        "_complete",
        "_parser",
        "chunked",
        "fields",
        "keep_alive",
        "length",
        "raw",
        "reason",
        "status",
        "version",
    )
    _parser: httptools.HttpResponseParser | None
    fields: list[tuple[bytes, bytes]]
    length: int | None

    def __init__(self, head: bytes) -> None:
        """Read ``head``: the status line through the blank line that ends the header section."""
        self.raw = head
        error = self._read(head)
        if error is None:
            self._check_status_line(head)
        else:
            self._tolerate(head, error)
        self._framing()

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        # RFC 9110 §5.5: whitespace around a value is not part of it; llhttp drops only the leading part
        if value.endswith((b" ", b"\t")):
            value = value.rstrip(b" \t")
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        parser = cast(httptools.HttpResponseParser, self._parser)
        self.status = parser.get_status_code()
        self.version = _VERSIONS.get(parser.get_http_version(), b"")
        self.keep_alive = parser.should_keep_alive()
        self._complete = True

    # reading

    def _read(self, head: bytes) -> Exception | None:
        """Parse ``head`` with a fresh parser; its error, if llhttp refused it."""
        self.fields = []
        self.reason = b""
        self.status = 0
        self.version = b""
        self._complete = False
        self._parser = httptools.HttpResponseParser(self)
        try:
            self._parser.feed_data(head)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # llhttp stops after a 101 head (HttpParserUpgrade, or an error when it names no Upgrade): what
            # follows is another protocol, and the connection ends with this response
            if not (self._complete and self.status == 101):
                return exc
        finally:
            self._parser = None
        return None

    def _check_status_line(self, head: bytes) -> None:
        """RFC 9112 §4: HTTP/1.0 or HTTP/1.1, a status of three digits from 100, a reason without controls."""
        if (
            self.version
            and self.status >= 100
            and head.startswith(b"HTTP/")
            and not self.reason.translate(None, _REASON_BYTES)
        ):
            return
        line = head[: head.find(b"\r\n")]
        raise httpx.RemoteProtocolError(f"malformed status line {line[:100]!r}")

    def _tolerate(self, head: bytes, error: Exception) -> None:
        """Read a head llhttp refused, if the reason is one of two legacy forms a recipient may accept.

        obs-fold (RFC 9112 §5.2) is replaced by a space; Content-Length field lines are set aside under
        another name, so a list or repetition of one value (RFC 9110 §8.6) is judged by ``_framing`` on the
        fields llhttp read. A connection whose framing needed this is not reused. Anything else is an error.
        """
        line_end = head.find(b"\r\n")
        status_line = head[: line_end + 2]
        if self._read(status_line + b"\r\n") is not None:
            raise httpx.RemoteProtocolError(f"malformed status line {status_line[:100]!r} ({error})")
        self._check_status_line(head)
        lines: list[bytes] = []
        for line in head[line_end + 2 : -2].split(b"\r\n")[:-1]:
            if lines and line.startswith((b" ", b"\t")):
                lines[-1] = lines[-1].rstrip(b" \t") + b" " + line.lstrip(b" \t")
            else:
                lines.append(line)
        set_aside: list[tuple[int, bytes]] = []
        for index, line in enumerate(lines):
            name, colon, value = line.partition(b":")
            if colon and name.lower() == b"content-length":
                lines[index] = _SET_ASIDE + b":" + value
                set_aside.append((index, name))
        tolerated = b"\r\n".join([head[:line_end], *lines, b"", b""])
        if tolerated == head or self._read(tolerated) is not None:
            raise httpx.RemoteProtocolError(f"malformed header field in the response ({error})")
        # llhttp accepted each line as one field line, so the field at a line's index is that line's field
        for index, name in set_aside:
            self.fields[index] = (name, self.fields[index][1])
        self.raw = tolerated
        self.keep_alive = False

    def _framing(self) -> None:
        """RFC 9112 §6.3: whether the body is chunked, or its length, from the fields llhttp read."""
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for name, value in self.fields:
            if len(name) in (14, 17):
                lowered = name.lower()
                if lowered == b"content-length":
                    lengths.append(value)
                elif lowered == b"transfer-encoding":
                    codings.append(value)
        if self.keep_alive and self.version == b"HTTP/1.0":
            # llhttp keeps an HTTP/1.0 connection that says keep-alive even when it also says close
            tokens = {
                token.strip().lower()
                for name, value in self.fields
                if name.lower() == b"connection"
                for token in value.split(b",")
            }
            self.keep_alive = b"close" not in tokens
        self.chunked = False
        self.length = None
        if codings:
            if lengths:
                # RFC 9112 §6.3 ¶3: a smuggling or splitting attempt; never guess which framing is meant
                raise httpx.RemoteProtocolError("response has both Transfer-Encoding and Content-Length")
            # the same rule llhttp applies: chunked only when it is the final coding
            self.chunked = b",".join(codings).rsplit(b",", 1)[-1].strip().lower() == b"chunked"
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


class _Chunks:
    """llhttp decoding a chunked body (RFC 9112 §7.1): fed the head, then the body's bytes as they arrive.

    Chunk sizes, extensions, CRLFs and trailers are llhttp's to read, with none of its leniencies: it refuses
    whitespace around a chunk extension's ";" (which RFC 9112 §7.1.1 calls BWS, and which parsers are known to
    read differently). Trailer fields are not kept (no ``on_header``, so httptools does not gather them
    either). On top of llhttp: the framing bytes may not outgrow the content (``_MAX_FRAMING_BYTES``), and
    bytes after the end of the body (which llhttp would start reading as a second response) end the exchange
    and mark the connection unusable.
    """

    __slots__ = ("_chunk_has_data", "_fed", "_in_chunk", "_parser", "_received", "complete", "pieces", "stray")

    def __init__(self, head: bytes) -> None:
        self.pieces: list[bytes] = []
        self.complete = False
        self.stray = False
        self._in_chunk = False
        self._chunk_has_data = False
        self._fed = 0
        self._received = 0
        self._parser = httptools.HttpResponseParser(self)
        self._parser.feed_data(head)

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            self.stray = True
            raise _Stray

    def on_chunk_header(self) -> None:
        self._in_chunk = True
        self._chunk_has_data = False

    def on_body(self, data: bytes) -> None:
        self.pieces.append(data)
        self._received += len(data)
        self._chunk_has_data = True

    def on_chunk_complete(self) -> None:
        self._in_chunk = False

    def on_message_complete(self) -> None:
        self.complete = True

    def feed(self, data: bytes | bytearray) -> None:
        """Decode ``data``; the content lands in ``pieces``. ``httpx.RemoteProtocolError`` for bad framing."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.complete:
                raise httpx.RemoteProtocolError(f"{self._where()} ({exc})") from None
            return  # stray bytes after the body: the body is whole, the connection is not reused
        self._fed += len(data)
        framing = self._fed - self._received
        if framing > _MAX_FRAMING_BYTES + _FRAMING_PER_CONTENT_BYTE * self._received:
            raise httpx.RemoteProtocolError(f"chunked framing of {framing} bytes for {self._received} bytes of content")

    def _where(self) -> str:
        """Which part of the chunked body llhttp refused, from the callbacks it had made."""
        if self._in_chunk and self._chunk_has_data:
            return "chunk data is not followed by CRLF"
        if self._in_chunk:
            return "malformed trailer section"  # the last chunk (no data) is open until its trailers end
        return "malformed chunk-size line"


class _Stray(Exception):
    """Raised from ``on_message_begin`` to stop llhttp reading bytes after a complete body as a new response."""


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
        self._chunks = _Chunks(head.raw) if head.chunked else None
        self._to_close = head.length is None and not head.chunked
        self._remaining = head.length or 0
        self._done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            if self._chunks is not None:
                chunk = await self._next_chunk(self._chunks)
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

    async def _next_chunk(self, chunks: _Chunks) -> bytes:
        connection = self._connection
        buffer = connection.buffer
        while not (chunks.pieces or chunks.complete):
            if buffer:
                chunks.feed(buffer)
                buffer.clear()
                connection.consumed()
            elif connection.eof:
                raise connection.read_error("the whole chunked body")
            else:
                await connection.receive(self._timeout)
        if chunks.pieces:
            data = chunks.pieces[0] if len(chunks.pieces) == 1 else b"".join(chunks.pieces)
            chunks.pieces.clear()
            return data
        self._finish(reuse=self._keep_alive and not chunks.stray)
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
                head = bytes(buffer[: end + 4])
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
    if method not in _KNOWN_METHODS and (not method or method.translate(None, _TCHAR)):
        raise httpx.LocalProtocolError(f"invalid method {method!r}")
    if not target or target.translate(None, _VCHAR):
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
