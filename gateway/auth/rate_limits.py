"""Request rate limits: the token endpoint per client and per address, DID challenges per customer and address,
failed client authentications at introspection and revocation, password sign-ins per address, every credential
check of the process together, and the gate on concurrent password hashes; zero-knowledge predicate queries per
client (that limiter is the ZK service's, set by `CONSENTRY_ZK_QUERY_*`).

Each limit is a GCRA (generic cell rate algorithm) bucket: a sustained rate with a burst allowance, kept as one
"theoretical arrival time" per key, so a check is a dictionary lookup and never a database write. That keeps
the token endpoint's hot path as cheap as before; the price is that each gateway process counts on its own,
so N processes admit up to N times the rate. The login throttle, which must lock an account exactly, stays in
the database.

Only a caller that proves to be a client spends that client's own allowance. Client ids are not secret, so a
per-client bucket charged before the credentials are checked would let anyone who knows an id deny that
client its tokens. Before the credentials are looked at, a token request is therefore counted against its
address and against the pair (claimed client_id, address), and refused without being counted when the claimed
client's own allowance is already spent; only a token actually issued, so only once the credentials held, is
counted against the client. Every attempt still counts where the caller stands: guessing a secret spends the
address's allowance and the pair's as using one does, so one address guesses a client's secret no faster than
that client may ask for tokens. Many addresses together guess faster, against secrets of 256 random bits; the
price of not letting them lock the client out.

Every per-address limit keys the caller by `request_address_key`: the TCP peer, or, when the peer is one of
`CONSENTRY_TRUSTED_PROXIES`, the address those proxies name in `X-Forwarded-For` (see `client_address`). With
no trusted proxies the header is ignored, so a caller cannot pick its own key by writing it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, TypeVar

from starlette.requests import Request

from gateway.web.problems import Problem

# More keys than this and the least recently seen are forgotten (a forgotten key starts with a full burst);
# the per-address limit still bounds a caller who invents keys to get that.
MAX_KEYS = 65_536

# The one key of a limit that counts the whole process (every caller together).
GLOBAL_KEY = "*"

T = TypeVar("T")


class RateLimitedError(Exception):
    """The key has spent its burst; retry after `retry_after` whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests per second sustained, up to `burst` at once after a quiet spell."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")


class RateLimiter:
    """One limit over many keys; safe to call from the thread pool."""

    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self.limit = limit
        self._interval = 1.0 / limit.rate
        self._tolerance = (limit.burst - 1) * self._interval
        self._clock = clock
        self._max_keys = max_keys
        self._arrivals: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: Hashable) -> None:
        """Count one request for `key`, or raise `RateLimitedError` without counting it."""
        with self._lock:
            now = self._clock()
            arrival = self._admit(key, now)
            self._arrivals[key] = arrival + self._interval
            self._arrivals.move_to_end(key)
            while len(self._arrivals) > self._max_keys:
                self._arrivals.popitem(last=False)

    def refund(self, key: Hashable) -> None:
        """Give back one request counted by `hit(key)`: a reservation taken before a check that then held."""
        with self._lock:
            arrival = self._arrivals.get(key)
            if arrival is not None:
                self._arrivals[key] = max(arrival - self._interval, self._clock())

    def check(self, key: Hashable) -> None:
        """Raise `RateLimitedError` if `hit(key)` would now be refused; counts nothing."""
        with self._lock:
            self._admit(key, self._clock())

    def _admit(self, key: Hashable, now: float) -> float:
        arrival = max(self._arrivals.get(key, now), now)
        wait = arrival - self._tolerance - now
        if wait > 0:
            raise RateLimitedError(max(1, math.ceil(wait)))
        return arrival


class PasswordCheckGate:
    """At most `concurrency` password checks at once and `queue` waiting; one more is refused at once.

    Waiting happens on the event loop (an asyncio semaphore), never in a worker thread. The checks run on the
    gate's own threads, one per slot, at a lower CPU priority (nice +10, inherited by the threads argon2 starts
    for its lanes): a hash may use every core, but when the event loop or any other request wants the CPU it
    gets it first, so a flood of sign-ins slows sign-ins and nothing else. Per process: each of `--workers N`
    processes has its own gate, as it has its own memory.
    """

    def __init__(self, concurrency: int, queue: int, retry_after: int = 1) -> None:
        if concurrency < 1 or queue < 0:
            raise ValueError("a password check gate needs at least one slot and a queue of 0 or more")
        self.concurrency = concurrency
        self.queue = queue
        self.retry_after = retry_after
        self._semaphore: asyncio.Semaphore | None = None
        self._waiting = 0
        self._threads: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore is None:  # made on first use, inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.concurrency)
        semaphore = self._semaphore
        if semaphore.locked() and self._waiting >= self.queue:
            raise RateLimitedError(self.retry_after)
        self._waiting += 1
        try:
            await semaphore.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            semaphore.release()

    async def run(self, check: Callable[..., T], *args: Any) -> T:
        """`check(*args)` in a slot, on the gate's low-priority threads; `RateLimitedError` past the queue."""
        async with self.slot():
            if self._threads is None:
                self._threads = ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="password-check", initializer=_lower_priority
                )
            return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(check, *args))


def _lower_priority() -> None:
    """Nice the calling thread (Linux schedules threads one by one); elsewhere, or when refused, run as is."""
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + 10))
    except (AttributeError, OSError):
        pass


@dataclass(frozen=True)
class RequestLimits:
    """The gateway's limiters, one per rule. `token_per_client` counts the tokens issued to a client;
    `token_per_client_address` (the same limit) every token request, under (claimed client_id, address)."""

    token_per_client: RateLimiter
    token_per_client_address: RateLimiter
    token_per_address: RateLimiter
    did_challenge_per_customer: RateLimiter
    did_challenge_per_address: RateLimiter
    client_auth_failures_per_client_address: RateLimiter
    client_auth_failures_per_address: RateLimiter
    sign_in_per_address: RateLimiter
    credential_checks_global: RateLimiter
    password_checks: PasswordCheckGate

    @classmethod
    def of(
        cls,
        *,
        token_per_client: RateLimit,
        token_per_address: RateLimit,
        did_challenge: RateLimit,
        client_auth_failures: RateLimit = RateLimit(0.5, 20),
        sign_in_per_address: RateLimit = RateLimit(1.0, 30),
        credential_checks_global: RateLimit = RateLimit(200.0, 400),
        password_checks: tuple[int, int] = (2, 32),
    ) -> RequestLimits:
        return cls(
            token_per_client=RateLimiter(token_per_client),
            token_per_client_address=RateLimiter(token_per_client),
            token_per_address=RateLimiter(token_per_address),
            did_challenge_per_customer=RateLimiter(did_challenge),
            did_challenge_per_address=RateLimiter(did_challenge),
            client_auth_failures_per_client_address=RateLimiter(client_auth_failures),
            client_auth_failures_per_address=RateLimiter(client_auth_failures),
            sign_in_per_address=RateLimiter(sign_in_per_address),
            credential_checks_global=RateLimiter(credential_checks_global),
            password_checks=PasswordCheckGate(*password_checks),
        )


@dataclass(frozen=True)
class Reservation:
    """Allowance taken before a credential check, so that parallel guesses can never exceed the limit (they
    all spend before any is checked); `release` gives it back once the check held, so only failures count."""

    hits: tuple[tuple[RateLimiter, Hashable], ...]

    def release(self) -> None:
        for limiter, key in self.hits:
            limiter.refund(key)


def reserve(*hits: tuple[RateLimiter, Hashable]) -> Reservation:
    """`enforce(*hits)`, returned as a `Reservation`; when a later limit refuses, the earlier hits are refunded."""
    taken: list[tuple[RateLimiter, Hashable]] = []
    try:
        for limiter, key in hits:
            enforce((limiter, key))
            taken.append((limiter, key))
    except Problem:
        Reservation(tuple(taken)).release()
        raise
    return Reservation(tuple(taken))


def enforce(*hits: tuple[RateLimiter, Hashable]) -> None:
    """Count the request against each (limiter, key), in order; the first limit exceeded answers 429
    problem+json `too-many-requests` with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3)."""
    for limiter, key in hits:
        try:
            limiter.hit(key)
        except RateLimitedError as exc:
            raise _too_many_requests(exc) from None


def enforce_unspent(limiter: RateLimiter, key: Hashable) -> None:
    """Answer 429 like `enforce` if `key` has spent its allowance, without counting this request."""
    try:
        limiter.check(key)
    except RateLimitedError as exc:
        raise _too_many_requests(exc) from None


def _too_many_requests(exc: RateLimitedError) -> Problem:
    return Problem(
        429,
        "too-many-requests",
        f"Too many requests; retry after {exc.retry_after} s.",
        title="Too Many Requests",
        headers={"Retry-After": str(exc.retry_after)},
    )


TrustedProxies = Sequence[IPv4Network | IPv6Network]


def request_address_key(request: Request, trusted_proxies: TrustedProxies) -> str:
    """`address_key` of the caller that sent `request` (`client_address` behind `trusted_proxies`): the one
    place every per-address limit gets its key."""
    peer = request.client.host if request.client else None
    return address_key(client_address(peer, request.headers.getlist("x-forwarded-for"), trusted_proxies))


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: TrustedProxies) -> str | None:
    """The caller's address: the TCP `peer`, unless the peer is one of `trusted_proxies`; then the rightmost
    address in `X-Forwarded-For` (all of its field lines, in order) that is not a trusted proxy.

    Each proxy appends the address it received the request from, so reading from the right, every entry up
    to the first untrusted one was written by a proxy we trust, and that entry is the client a trusted proxy
    saw. Entries further left came from the client itself and are never read: prepending addresses changes
    nothing. When every entry is a trusted proxy the leftmost counts (the caller sits in a trusted network,
    so the key is still one of those). A malformed entry met on the way, or no header at all, makes the key
    the peer: nobody we trust named an address.
    """
    peer_ip = _ip(peer)
    if peer_ip is None or not _is_trusted(peer_ip, trusted_proxies):
        return peer
    entries = [entry for line in forwarded_for for entry in line.split(",")]
    nearest: IPv4Address | IPv6Address | None = None
    for entry in reversed(entries):
        nearest = _forwarded_ip(entry)
        if nearest is None:
            return peer
        if not _is_trusted(nearest, trusted_proxies):
            break
    return str(nearest) if nearest is not None else peer


def _ip(host: str | None) -> IPv4Address | IPv6Address | None:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_ip(entry: str) -> IPv4Address | IPv6Address | None:
    """One `X-Forwarded-For` entry: an address, or as some proxies write it `[v6]`, `[v6]:port` or `v4:port`."""
    text = entry.strip()
    if text.startswith("["):
        inside, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port[:1] == ":" and port[1:].isdigit())):
            return None
        address = _ip(inside)
        return address if isinstance(address, IPv6Address) else None
    if text.count(":") == 1:
        text, _, port = text.partition(":")
        return _ip(text) if port.isdigit() and "." in text else None
    return _ip(text)


def _is_trusted(address: IPv4Address | IPv6Address, trusted_proxies: TrustedProxies) -> bool:
    return any(address in network for network in trusted_proxies)


def address_key(host: str | None) -> str:
    """The limiter key of a remote address: an IPv6 client is one /64 (a subscriber gets a whole prefix, so
    per-address keys would give it unlimited buckets); IPv4 addresses count one by one."""
    if not host:
        return "unknown"
    address = _ip(host)
    if address is None:
        return host[:100]
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, 64), strict=False))
    return str(address)
