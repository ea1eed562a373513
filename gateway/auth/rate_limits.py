"""Request rate limits: the token endpoint per client and per address, DID challenges per customer and address,
zero-knowledge predicate queries per client (that limiter is the ZK service's, set by `CONSENTRY_ZK_QUERY_*`).

Each limit is a GCRA (generic cell rate algorithm) bucket: a sustained rate with a burst allowance, kept as one
"theoretical arrival time" per key, so a check is a dictionary lookup and never a database write. That keeps
the token endpoint's hot path as cheap as before; the price is that each gateway process counts on its own,
so N processes admit up to N times the rate. The login throttle, which must lock an account exactly, stays in
the database. Every attempt counts, failed client authentications included: the check runs before the
credentials are looked at, so guessing a client secret spends the same allowance as using one.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from gateway.problems import Problem

# More keys than this and the least recently seen are forgotten (a forgotten key starts with a full burst);
# the per-address limit still bounds a caller who invents keys to get that.
MAX_KEYS = 65_536


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
        self._arrivals: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one request for `key`, or raise `RateLimitedError` without counting it."""
        with self._lock:
            now = self._clock()
            arrival = max(self._arrivals.get(key, now), now)
            wait = arrival - self._tolerance - now
            if wait > 0:
                raise RateLimitedError(max(1, math.ceil(wait)))
            self._arrivals[key] = arrival + self._interval
            self._arrivals.move_to_end(key)
            while len(self._arrivals) > self._max_keys:
                self._arrivals.popitem(last=False)


@dataclass(frozen=True)
class RequestLimits:
    """The gateway's limiters, one per rule."""

    token_per_client: RateLimiter
    token_per_address: RateLimiter
    did_challenge_per_customer: RateLimiter
    did_challenge_per_address: RateLimiter

    @classmethod
    def of(
        cls,
        *,
        token_per_client: RateLimit,
        token_per_address: RateLimit,
        did_challenge: RateLimit,
    ) -> RequestLimits:
        return cls(
            token_per_client=RateLimiter(token_per_client),
            token_per_address=RateLimiter(token_per_address),
            did_challenge_per_customer=RateLimiter(did_challenge),
            did_challenge_per_address=RateLimiter(did_challenge),
        )


def enforce(*hits: tuple[RateLimiter, str]) -> None:
    """Count the request against each (limiter, key), in order; the first limit exceeded answers 429
    problem+json `too-many-requests` with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3)."""
    for limiter, key in hits:
        try:
            limiter.hit(key)
        except RateLimitedError as exc:
            raise Problem(
                429,
                "too-many-requests",
                f"Too many requests; retry after {exc.retry_after} s.",
                title="Too Many Requests",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None


def request_address_key(request: Request) -> str:
    """`address_key` of the peer that sent `request`."""
    return address_key(request.client.host if request.client else None)


def address_key(host: str | None) -> str:
    """The limiter key of a remote address: an IPv6 client is one /64 (a subscriber gets a whole prefix, so
    per-address keys would give it unlimited buckets); IPv4 addresses count one by one."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
