"""PooledHTTP11Transport's pool under pressure: cancellation at every await of an exchange, hand-off to waiting
callers, and write backpressure, against real servers on loopback.

The server is test_upstream_transport's RawServer, fed through a pump the test controls: it reads the socket a
step at a time, only while ``reading`` is set, on a socket with a small receive buffer, so a request it does
not read backs up into the client's buffers (asyncio's ``pause_writing``). Its answers are scripted by target.

What a leak would look like, and how each test sees it: a slot lost to a cancelled caller makes the next caller
wait for a slot that never comes (``httpx.PoolTimeout``); a slot counted twice lets more than
``max_connections`` requests be in flight; a half-used connection put back in the pool carries the next
request into the middle of an old exchange. So after each case the pool must serve the next request and then
exactly ``max_connections`` requests at once, no fewer and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache

import httpx
import pytest

from gateway.upstream import PooledHTTP11Transport
from gateway.upstream.transport import HeaderBlock, RawResponse, _Connection, encode_headers
from tests.gateway.upstream.test_upstream_transport import OK, RawServer, Seen

pytestmark = pytest.mark.anyio

# generous: only the timeouts a test sets on purpose, to provoke a timeout path, are short
PATIENT = {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}
NO_FIELDS = encode_headers([], host=b"upstream.test")


def small_buffer_listener() -> socket.socket:
    """A loopback socket whose connections get a small receive buffer (set before listening, so accepted
    sockets inherit it): a server that does not read holds up the client after kilobytes, not megabytes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.bind(("127.0.0.1", 0))
    return sock


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class PacedServer(RawServer):
    """RawServer on a prepared socket, reading its connections ``step`` bytes at a time, ``pause`` seconds apart,
    and only while ``reading`` is set. ``received`` counts the bytes read; ``closed_by_client`` is set when a
    client ends a connection."""

    sock: socket.socket = field(default_factory=small_buffer_listener)
    reading: asyncio.Event = field(default_factory=_set_event)
    step: int = 65536
    pause: float = 0.0
    received: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> PacedServer:
        self._server = await asyncio.start_server(self._handle, sock=self.sock)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await super().__aexit__(*exc_info)
        if self._tasks:
            # each connection's end reaches its handler through the pump: let them finish, not be cancelled
            await asyncio.wait(self._tasks, timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        paced = asyncio.StreamReader()
        pump = asyncio.create_task(self._pump(reader, paced))
        self._tasks |= {handler, pump}
        try:
            await super()._handle(paced, writer)
        except asyncio.IncompleteReadError:
            pass  # the client left in the middle of a request body
        finally:
            pump.cancel()

    async def _pump(self, wire: asyncio.StreamReader, paced: asyncio.StreamReader) -> None:
        try:
            while True:
                await self.reading.wait()
                data = await wire.read(self.step)
                if not data:
                    break
                self.received += len(data)
                paced.feed_data(data)
                await asyncio.sleep(self.pause)
        except ConnectionError as exc:
            paced.set_exception(exc)
        else:
            paced.feed_eof()
        self.closed_by_client.set()


def target_of(seen: Seen) -> bytes:
    return seen.head.split(b" ", 2)[1]


class Upstream:
    """A PacedServer answering by request target: ``/hold`` once ``released`` is set (``/hold-close`` then with
    ``Connection: close``), ``/silent`` never, ``/partial`` with a head and half its body (the rest once ``rest``
    is set), anything else at once. Each target goes to ``arrived`` once its request has been read whole."""

    def __init__(self, *, sock: socket.socket | None = None, pause: float = 0.0) -> None:
        self.server = PacedServer(self.reply, sock=sock or small_buffer_listener(), pause=pause)
        self.origin = ("http", "127.0.0.1", self.server.sock.getsockname()[1])
        self.arrived: asyncio.Queue[bytes] = asyncio.Queue()
        self.released = asyncio.Event()
        self.rest = asyncio.Event()
        self._ending = asyncio.Event()

    async def __aenter__(self) -> Upstream:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for event in (self.released, self.rest, self._ending, self.server.reading):
            event.set()
        await self.server.__aexit__(*exc_info)

    async def reply(self, seen: Seen, writer: asyncio.StreamWriter) -> bool:
        target = target_of(seen)
        self.arrived.put_nowait(target)
        if target == b"/silent":
            await self._ending.wait()
            return False
        if target == b"/partial":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nha")
            await writer.drain()
            await self.rest.wait()
            writer.write(b"lf")
            return True
        if target in (b"/hold", b"/hold-close"):
            await self.released.wait()
        if target == b"/hold-close":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
            return False
        writer.write(OK)
        return True

    def forget_arrivals(self) -> None:
        while not self.arrived.empty():
            self.arrived.get_nowait()

    async def arrivals(self, count: int) -> list[bytes]:
        """The next ``count`` targets to arrive (a guard of a few seconds, so a request stuck in our pool fails)."""
        return [await asyncio.wait_for(self.arrived.get(), 5) for _ in range(count)]

    def targets(self) -> list[bytes]:
        return [target_of(seen) for seen in self.server.seen]

    def connections_of(self, target: bytes) -> list[int]:
        return [seen.connection for seen in self.server.seen if target_of(seen) == target]


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with Upstream() as started:
        yield started


@pytest.fixture
async def transport() -> AsyncIterator[PooledHTTP11Transport]:
    async with PooledHTTP11Transport(max_connections=2) as pool:
        yield pool


class WritePauses:
    """Counts the ``pause_writing`` callbacks asyncio makes when a connection's send buffers are full."""

    def __init__(self) -> None:
        self.count = 0
        self.happened = asyncio.Event()


@pytest.fixture
def write_pauses(monkeypatch: pytest.MonkeyPatch) -> WritePauses:
    pauses = WritePauses()
    pause_writing = _Connection.pause_writing

    def counted(connection: _Connection) -> None:
        pauses.count += 1
        pauses.happened.set()
        pause_writing(connection)

    monkeypatch.setattr(_Connection, "pause_writing", counted)
    return pauses


async def call(
    transport: PooledHTTP11Transport,
    upstream: Upstream,
    target: bytes,
    *,
    method: bytes = b"GET",
    headers: HeaderBlock = NO_FIELDS,
    body: bytes | AsyncIterable[bytes] = b"",
    **timeouts: float,
) -> bytes:
    """One request through ``send``, and its whole response body."""
    response = await transport.send(upstream.origin, method, target, headers, body, {**PATIENT, **timeouts})
    return await read_to_end(response)


async def read_to_end(response: RawResponse) -> bytes:
    """The whole body; reading a stream to its end returns the connection to the pool."""
    if isinstance(response.body, bytes):
        return response.body
    content = b"".join([chunk async for chunk in response.body])
    await response.aclose()
    return content


async def settle() -> None:
    """Let every task that is ready run up to its next wait (a request queues for a slot without any I/O)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def cancel(task: asyncio.Task[bytes]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def assert_exactly_concurrent(transport: PooledHTTP11Transport, upstream: Upstream, count: int) -> None:
    """``count`` requests can be in flight at once, and one more waits for a slot (here, until its PoolTimeout)."""
    upstream.forget_arrivals()
    held = [asyncio.create_task(call(transport, upstream, b"/hold")) for _ in range(count)]
    assert await upstream.arrivals(count) == [b"/hold"] * count
    with pytest.raises(httpx.PoolTimeout):
        await call(transport, upstream, b"/one-too-many", pool=0.1)
    upstream.released.set()
    assert await asyncio.gather(*held) == [b"ok"] * count
    upstream.released.clear()
    assert b"/one-too-many" not in upstream.targets()


@cache
def large_body() -> bytes:
    """Far beyond what the kernel's and asyncio's send buffers hold (Linux grows a send buffer to 4 MiB)."""
    return random.Random(9112).randbytes(16 * 1024 * 1024)


async def pieces(body: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(body), size):
        yield body[offset : offset + size]


# cancellation: a caller cancelled at any await of an exchange leaves no slot taken and no half-used connection


async def cancel_while_waiting_for_a_slot(transport: PooledHTTP11Transport, upstream: Upstream, _: WritePauses) -> None:
    held = [asyncio.create_task(call(transport, upstream, b"/hold")) for _ in range(transport.max_connections)]
    await upstream.arrivals(transport.max_connections)
    waiting = asyncio.create_task(call(transport, upstream, b"/never-sent"))
    await settle()
    assert not waiting.done()
    await cancel(waiting)
    upstream.released.set()
    assert await asyncio.gather(*held) == [b"ok"] * transport.max_connections
    upstream.released.clear()


async def cancel_just_after_being_handed_a_connection(
    transport: PooledHTTP11Transport, upstream: Upstream, _: WritePauses
) -> None:
    """The connection a finished response returns is handed to the first waiter, which is cancelled before it
    runs: the connection must go on to the next waiter, not be dropped with the cancelled one."""
    held = [asyncio.create_task(call(transport, upstream, b"/hold")) for _ in range(transport.max_connections - 1)]
    partial = await transport.send(upstream.origin, b"GET", b"/partial", NO_FIELDS, b"", PATIENT)
    await upstream.arrivals(transport.max_connections)
    assert not isinstance(partial.body, bytes)
    body = aiter(partial.body)
    assert await anext(body) == b"ha"
    handed = asyncio.create_task(call(transport, upstream, b"/never-sent"))
    await settle()
    next_in_line = asyncio.create_task(call(transport, upstream, b"/next-in-line"))
    await settle()
    upstream.rest.set()
    assert await anext(body) == b"lf"  # the end of the body: the connection went to `handed` in this very step
    await cancel(handed)
    assert await next_in_line == b"ok"
    upstream.rest.clear()
    upstream.released.set()
    await asyncio.gather(*held)
    upstream.released.clear()
    partial_connection = upstream.connections_of(b"/partial")[-1]
    assert upstream.connections_of(b"/next-in-line")[-1] == partial_connection


async def cancel_just_after_being_handed_a_slot(
    transport: PooledHTTP11Transport, upstream: Upstream, _: WritePauses
) -> None:
    """A discarded connection frees its slot for the first waiter, cancelled before it runs: the slot must go on."""
    held = [asyncio.create_task(call(transport, upstream, b"/hold")) for _ in range(transport.max_connections - 1)]
    partial = await transport.send(upstream.origin, b"GET", b"/partial", NO_FIELDS, b"", PATIENT)
    await upstream.arrivals(transport.max_connections)
    handed = asyncio.create_task(call(transport, upstream, b"/never-sent"))
    await settle()
    next_in_line = asyncio.create_task(call(transport, upstream, b"/next-in-line"))
    await settle()
    await partial.aclose()  # half the body unread: the connection is closed and its slot goes to `handed` at once
    await cancel(handed)
    assert await next_in_line == b"ok"
    upstream.released.set()
    await asyncio.gather(*held)
    upstream.released.clear()


async def cancel_while_reading_the_head(transport: PooledHTTP11Transport, upstream: Upstream, _: WritePauses) -> None:
    silent = asyncio.create_task(call(transport, upstream, b"/silent"))
    assert await upstream.arrivals(1) == [b"/silent"]
    await cancel(silent)


async def cancel_while_reading_the_body(transport: PooledHTTP11Transport, upstream: Upstream, _: WritePauses) -> None:
    partial = await transport.send(upstream.origin, b"GET", b"/partial", NO_FIELDS, b"", PATIENT)
    assert await upstream.arrivals(1) == [b"/partial"]
    reading = asyncio.create_task(read_to_end(partial))
    await settle()
    assert not reading.done()
    await cancel(reading)


async def cancel_while_writing(
    transport: PooledHTTP11Transport, upstream: Upstream, pauses: WritePauses, body: bytes | AsyncIterable[bytes]
) -> None:
    """The server reads nothing, so the request fills every buffer on the way and the write waits: cancel it."""
    upstream.server.reading.clear()
    pauses.happened.clear()
    writing = asyncio.create_task(call(transport, upstream, b"/never-read", method=b"POST", body=body))
    await asyncio.wait_for(pauses.happened.wait(), 10)
    await cancel(writing)
    upstream.server.reading.set()


async def cancel_while_writing_a_body(
    transport: PooledHTTP11Transport, upstream: Upstream, pauses: WritePauses
) -> None:
    await cancel_while_writing(transport, upstream, pauses, large_body())


async def cancel_while_writing_a_stream(
    transport: PooledHTTP11Transport, upstream: Upstream, pauses: WritePauses
) -> None:
    await cancel_while_writing(transport, upstream, pauses, pieces(large_body()))


PHASES: dict[str, Callable[[PooledHTTP11Transport, Upstream, WritePauses], Awaitable[None]]] = {
    "waiting for a slot": cancel_while_waiting_for_a_slot,
    "just handed a connection": cancel_just_after_being_handed_a_connection,
    "just handed a slot": cancel_just_after_being_handed_a_slot,
    "writing a body the server does not read": cancel_while_writing_a_body,
    "writing a streamed body the server does not read": cancel_while_writing_a_stream,
    "reading the head": cancel_while_reading_the_head,
    "reading the body": cancel_while_reading_the_body,
}


@pytest.mark.parametrize("phase", PHASES)
async def test_after_cancellations_at_one_phase_the_pool_still_serves_exactly_max_connections_at_once(
    transport: PooledHTTP11Transport, upstream: Upstream, write_pauses: WritePauses, phase: str
) -> None:
    for _ in range(3):
        upstream.forget_arrivals()
        await PHASES[phase](transport, upstream, write_pauses)
        assert await call(transport, upstream, b"/next") == b"ok"
    await assert_exactly_concurrent(transport, upstream, transport.max_connections)


async def test_after_cancellations_at_every_phase_in_turn_the_pool_still_serves_exactly_max_connections(
    transport: PooledHTTP11Transport, upstream: Upstream, write_pauses: WritePauses
) -> None:
    for _ in range(2):
        for cancel_at in PHASES.values():
            upstream.forget_arrivals()
            await cancel_at(transport, upstream, write_pauses)
    assert await call(transport, upstream, b"/next") == b"ok"
    await assert_exactly_concurrent(transport, upstream, transport.max_connections)


@pytest.mark.parametrize("phase", ["reading the head", "reading the body"])
async def test_a_connection_cancelled_mid_response_is_never_reused(
    transport: PooledHTTP11Transport, upstream: Upstream, write_pauses: WritePauses, phase: str
) -> None:
    """The rest of the cancelled response is still on its way: the next request needs a connection of its own."""
    await PHASES[phase](transport, upstream, write_pauses)
    assert await call(transport, upstream, b"/next") == b"ok"
    cancelled, following = upstream.server.seen
    assert following.connection != cancelled.connection


async def test_requests_cancelled_or_timed_out_while_connecting_give_their_slot_back() -> None:
    """A listener whose accept queue is full leaves a new connection's SYN unanswered, so connecting hangs."""
    sock = small_buffer_listener()
    with contextlib.closing(sock):
        sock.listen(0)
        upstream = Upstream(sock=sock)
        async with PooledHTTP11Transport(max_connections=1) as transport:
            with socket.create_connection(sock.getsockname()):  # the one connection a backlog of 0 queues
                with pytest.raises(httpx.ConnectTimeout):
                    await call(transport, upstream, b"/never-sent", connect=0.1)
                connecting = asyncio.create_task(call(transport, upstream, b"/never-sent"))
                await settle()
                assert not connecting.done()
                await cancel(connecting)
            async with upstream:  # now accepting, on the same port: the same pool
                assert await call(transport, upstream, b"/next") == b"ok"
                await assert_exactly_concurrent(transport, upstream, 1)
        assert upstream.targets() == [b"/next", b"/hold"]


# hand-off: with every slot taken, what comes free goes to the waiting callers, first come first served


async def queue_waiters(
    transport: PooledHTTP11Transport, upstream: Upstream, *targets: bytes
) -> list[asyncio.Task[bytes]]:
    """Requests that queue for a slot one after the other, in the order of ``targets``."""
    waiters = []
    for target in targets:
        waiters.append(asyncio.create_task(call(transport, upstream, target)))
        await settle()
    assert not any(waiter.done() for waiter in waiters)
    return waiters


async def test_a_released_connection_goes_to_the_waiters_in_the_order_they_came(upstream: Upstream) -> None:
    async with PooledHTTP11Transport(max_connections=1) as transport:
        holder = asyncio.create_task(call(transport, upstream, b"/hold"))
        await upstream.arrivals(1)
        waiters = await queue_waiters(transport, upstream, b"/first", b"/second", b"/third")
        upstream.released.set()
        assert await asyncio.gather(holder, *waiters) == [b"ok"] * 4
    assert upstream.targets() == [b"/hold", b"/first", b"/second", b"/third"]
    assert upstream.server.connections == 1  # each waiter was handed the same connection in turn


@pytest.mark.parametrize("discard", ["its body closed unread", "Connection: close", "a read timeout"])
async def test_a_slot_freed_by_a_discarded_connection_goes_to_the_waiters_in_the_order_they_came(
    upstream: Upstream, discard: str
) -> None:
    async with PooledHTTP11Transport(max_connections=1) as transport:
        if discard == "its body closed unread":
            partial = await transport.send(upstream.origin, b"GET", b"/partial", NO_FIELDS, b"", PATIENT)
        elif discard == "Connection: close":
            holder = asyncio.create_task(call(transport, upstream, b"/hold-close"))
        else:
            holder = asyncio.create_task(call(transport, upstream, b"/silent", read=0.2))
        await upstream.arrivals(1)
        waiters = await queue_waiters(transport, upstream, b"/first", b"/second", b"/third")
        if discard == "its body closed unread":
            await partial.aclose()
        elif discard == "Connection: close":
            upstream.released.set()
            assert await holder == b"ok"
        else:
            with pytest.raises(httpx.ReadTimeout):
                await holder
        assert await asyncio.gather(*waiters) == [b"ok"] * 3
    assert upstream.targets()[1:] == [b"/first", b"/second", b"/third"]
    # the first waiter opened a connection in the freed slot, and handed it on to the others when it was done
    assert {seen.connection for seen in upstream.server.seen[1:]} == {2}


@pytest.mark.parametrize("kept_alive", [True, False], ids=["connection released", "slot freed"])
async def test_a_waiter_whose_pool_timeout_expired_is_passed_over_and_nothing_is_lost(
    upstream: Upstream, kept_alive: bool
) -> None:
    async with PooledHTTP11Transport(max_connections=1) as transport:
        holder = asyncio.create_task(call(transport, upstream, b"/hold" if kept_alive else b"/hold-close"))
        await upstream.arrivals(1)
        expiring = asyncio.create_task(call(transport, upstream, b"/expired", pool=0.1))
        await settle()
        (patient,) = await queue_waiters(transport, upstream, b"/patient")
        with pytest.raises(httpx.PoolTimeout, match="no free connection"):
            await expiring
        assert not patient.done()
        upstream.released.set()
        assert await asyncio.gather(holder, patient) == [b"ok", b"ok"]
        upstream.released.clear()
        assert await call(transport, upstream, b"/after") == b"ok"
        await assert_exactly_concurrent(transport, upstream, 1)
    assert b"/expired" not in upstream.targets()
    expected = 1 if kept_alive else 2  # the connection went to the patient waiter, and then back to the pool
    assert upstream.connections_of(b"/patient") == upstream.connections_of(b"/after") == [expected]


# write backpressure: asyncio's pause_writing and resume_writing, and the write timeout


@pytest.mark.parametrize("framing", ["bytes", "chunked stream", "stream with Content-Length"])
async def test_a_body_larger_than_the_socket_buffers_reaches_a_slow_server_whole(
    write_pauses: WritePauses, framing: str
) -> None:
    body = large_body()
    fields = [(b"content-length", b"%d" % len(body))] if framing == "stream with Content-Length" else []
    headers = encode_headers(fields, host=b"upstream.test")
    ahead: list[int] = []  # per piece taken from a streamed body: how far the client is ahead of the server

    async def metered() -> AsyncIterator[bytes]:
        taken = 0
        async for piece in pieces(body):
            taken += len(piece)
            ahead.append(taken - upstream.server.received)
            yield piece

    async with Upstream(pause=0.001) as upstream, PooledHTTP11Transport() as transport:
        sent = body if framing == "bytes" else metered()
        assert await call(transport, upstream, b"/upload", method=b"PUT", headers=headers, body=sent) == b"ok"
        assert await call(transport, upstream, b"/after") == b"ok"
    upload, after = upstream.server.seen
    assert upload.body == body
    assert write_pauses.count > 0  # the buffers did fill up: the writes waited for the server to read
    assert after.connection == upload.connection  # the request ended exactly where its framing said
    if framing != "bytes":
        # a stream is taken from its source only as fast as the server reads, not into memory ahead of it
        assert max(ahead) < len(body) // 2


@pytest.mark.parametrize("abandoned_by", ["the write timeout", "cancellation"])
async def test_a_request_abandoned_while_the_server_reads_nothing_is_never_delivered_whole(
    write_pauses: WritePauses, abandoned_by: str
) -> None:
    """Once we gave up on a request, the bytes still queued for it are dropped with its connection: a server that
    reads on later must not receive the whole request (and one that never reads must not pin the socket)."""
    async with Upstream() as upstream, PooledHTTP11Transport(max_connections=1) as transport:
        upstream.server.reading.clear()
        if abandoned_by == "the write timeout":
            with pytest.raises(httpx.WriteTimeout):
                await call(transport, upstream, b"/upload", method=b"POST", body=large_body(), write=0.2)
        else:
            await cancel_while_writing(transport, upstream, write_pauses, large_body())
        upstream.server.reading.set()
        await asyncio.wait_for(upstream.server.closed_by_client.wait(), 10)
        assert upstream.server.seen == []  # the connection ended inside the body
        assert await call(transport, upstream, b"/next") == b"ok"  # in the pool's only slot, so it was freed
        await assert_exactly_concurrent(transport, upstream, 1)
