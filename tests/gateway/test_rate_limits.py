"""The GCRA rate limiter behind the token endpoint and DID challenge limits, on a clock the test moves, and the
address every per-address limit keys a caller by (the TCP peer, or what trusted proxies say in X-Forwarded-For).

The limits over real HTTP (429 problem+json with Retry-After) are in tests/e2e/test_rate_limits.py.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network

import pytest
from starlette.requests import Request

from gateway.auth.rate_limits import (
    PasswordCheckGate,
    RateLimit,
    RateLimitedError,
    RateLimiter,
    TrustedProxies,
    address_key,
    client_address,
    request_address_key,
    reserve,
)
from gateway.routers.oauth import MALFORMED_BASIC, _claimed_client_id
from gateway.web.problems import Problem


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_at_once_and_the_next_request_is_refused_with_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=0.5, burst=3), clock=clock)
    for _ in range(3):
        limiter.hit("client-a")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("client-a")
    assert refused.value.retry_after == 2  # one request per 2 s


def test_the_sustained_rate_is_admitted_after_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=2, burst=1), clock=clock)
    limiter.hit("k")
    clock.now += 0.5
    limiter.hit("k")
    clock.now += 0.25
    with pytest.raises(RateLimitedError):
        limiter.hit("k")


def test_the_limit_resets_after_the_announced_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=0.25, burst=2), clock=clock)
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("k")
    clock.now += refused.value.retry_after
    limiter.hit("k")


def test_a_quiet_spell_refills_the_whole_burst_but_no_more() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1, burst=2), clock=clock)
    limiter.hit("k")
    limiter.hit("k")
    clock.now += 3600
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(RateLimitedError):
        limiter.hit("k")


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1, burst=1), clock=clock)
    limiter.hit("k")
    for _ in range(50):
        with pytest.raises(RateLimitedError):
            limiter.hit("k")
    clock.now += 1
    limiter.hit("k")


def test_keys_are_limited_independently() -> None:
    limiter = RateLimiter(RateLimit(rate=1, burst=1), clock=Clock())
    limiter.hit("client-a")
    with pytest.raises(RateLimitedError):
        limiter.hit("client-a")
    limiter.hit("client-b")


def test_a_check_refuses_a_spent_key_like_a_hit_but_counts_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1, burst=2), clock=clock)
    for _ in range(10):
        limiter.check("k")
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("k")
    assert refused.value.retry_after == 1
    clock.now += 1
    limiter.check("k")
    limiter.hit("k")


def test_keys_may_be_pairs_such_as_client_and_address() -> None:
    limiter = RateLimiter(RateLimit(rate=1, burst=1), clock=Clock())
    limiter.hit(("crm", "203.0.113.7"))
    with pytest.raises(RateLimitedError):
        limiter.hit(("crm", "203.0.113.7"))
    limiter.hit(("crm", "198.51.100.1"))


def test_a_released_reservation_is_given_back_and_a_kept_one_counts() -> None:
    """Reserve before a credential check, release when it held: only failures spend the allowance."""
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=0.5, burst=2), clock=clock)
    for _ in range(10):
        reserve((limiter, "k")).release()  # successes, however many
    reserve((limiter, "k"))
    reserve((limiter, "k"))  # two failures kept
    with pytest.raises(Problem) as refused:
        reserve((limiter, "k"))
    assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "2"


def test_a_reservation_refused_by_a_later_limit_gives_back_the_earlier_ones() -> None:
    clock = Clock()
    roomy = RateLimiter(RateLimit(rate=0.5, burst=5), clock=clock)
    spent = RateLimiter(RateLimit(rate=0.5, burst=1), clock=clock)
    reserve((spent, "k"))
    for _ in range(10):
        with pytest.raises(Problem):
            reserve((roomy, "k"), (spent, "k"))
    for _ in range(5):
        reserve((roomy, "k"))  # the refused attempts took nothing from the first limit


def test_parallel_reservations_never_exceed_the_burst() -> None:
    """The lockout must hold when guesses race: the allowance is taken before any check runs."""
    limiter = RateLimiter(RateLimit(rate=0.001, burst=7))
    admitted: list[int] = []

    def guess(n: int) -> None:
        try:
            reserve((limiter, "victim"))
        except Problem:
            return
        admitted.append(n)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(guess, range(200)))
    assert len(admitted) == 7


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError):
        RateLimit(rate=0, burst=5)
    with pytest.raises(ValueError):
        RateLimit(rate=1, burst=0)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # the same subscriber prefix
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_limited_per_64_prefix_and_ipv4_per_address(host: str | None, key: str) -> None:
    assert address_key(host) == key


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"crm:secret").decode(),
        "Basic " + base64.b64encode(b"%63rm:secret").decode(),  # authlib percent-decodes the user name
        "Basic " + base64.b64encode(b"c%72%6D:secret").decode(),
    ],
)
def test_every_spelling_of_a_client_id_spends_the_same_token_allowance(authorization: str) -> None:
    request = Request({"type": "http", "headers": [(b"authorization", authorization.encode())], "query_string": b""})
    assert _claimed_client_id(request, {}) == "crm"


def test_basic_credentials_authlib_cannot_decode_share_one_bucket_instead_of_escaping_the_limit() -> None:
    request = Request({"type": "http", "headers": [(b"authorization", b"Basic !!!not-base64")], "query_string": b""})
    assert _claimed_client_id(request, {}) == MALFORMED_BASIC


PROXIES = (ip_network("10.0.0.0/8"), ip_network("192.0.2.10/32"), ip_network("2001:db8:ffff::/48"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "address"),
    [
        # No trusted proxies (the default): the header is ignored, whatever it says.
        ("203.0.113.7", ["198.51.100.1"], (), "203.0.113.7"),
        ("10.0.0.2", ["198.51.100.1"], (), "10.0.0.2"),
        # A peer that is not a trusted proxy cannot speak for anyone else.
        ("203.0.113.7", ["198.51.100.1"], PROXIES, "203.0.113.7"),
        ("2001:db8:1::5", ["198.51.100.1"], PROXIES, "2001:db8:1::5"),
        # A trusted proxy, by exact address or inside a CIDR network, names the client it saw.
        ("192.0.2.10", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.20.30.40", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("2001:db8:ffff:1::1", ["2001:db8:1:2::7"], PROXIES, "2001:db8:1:2::7"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], PROXIES, "198.51.100.1"),  # IPv4 peer on a dual-stack socket
        # Several hops: the rightmost address that is not a trusted proxy.
        ("10.0.0.2", ["198.51.100.1, 10.0.0.3, 192.0.2.10"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.1", "10.0.0.3"], PROXIES, "198.51.100.1"),  # one field line per hop
        # Entries left of the client were written by the client: prepending addresses changes nothing.
        ("10.0.0.2", ["203.0.113.99, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["10.0.0.9, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["not-an-address, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["203.0.113.99", "198.51.100.1"], PROXIES, "198.51.100.1"),
        # Every hop a trusted proxy: the caller is inside a trusted network and the leftmost counts.
        ("10.0.0.2", ["10.0.0.5, 10.0.0.3"], PROXIES, "10.0.0.5"),
        # Addresses as some proxies write them.
        ("10.0.0.2", ["198.51.100.1:50123"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["[2001:db8:1:2::7]:443"], PROXIES, "2001:db8:1:2::7"),
        ("10.0.0.2", ["[2001:db8:1:2::7]"], PROXIES, "2001:db8:1:2::7"),
        ("10.0.0.2", [" 198.51.100.1 "], PROXIES, "198.51.100.1"),
        # No header, or a malformed entry where the client should be: the peer, never a caller's choice.
        ("10.0.0.2", [], PROXIES, "10.0.0.2"),
        ("10.0.0.2", [""], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, "], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, unknown"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, proxy.example"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, 10.0.0.3, 999.1.1.1"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1:port"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["[2001:db8:1:2::7"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["[198.51.100.1]"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["[2001:db8::7]:x"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1/24"], PROXIES, "10.0.0.2"),
        # A peer that is no IP address at all (a Unix socket, a test transport) is never a trusted proxy.
        ("testclient", ["198.51.100.1"], PROXIES, "testclient"),
        (None, ["198.51.100.1"], PROXIES, None),
    ],
)
def test_the_client_is_the_rightmost_forwarded_address_that_is_not_a_trusted_proxy(
    peer: str | None, forwarded_for: list[str], trusted: TrustedProxies, address: str | None
) -> None:
    assert client_address(peer, forwarded_for, trusted) == address


def _request(peer: str, *forwarded_for: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return Request({"type": "http", "headers": headers, "query_string": b"", "client": (peer, 50000)})


def test_forwarded_clients_are_keyed_like_direct_ones_an_ipv6_client_by_its_64() -> None:
    key = request_address_key
    assert key(_request("10.0.0.2", "2001:db8:1:2::7"), PROXIES) == "2001:db8:1:2::/64"
    assert key(_request("10.0.0.2", "2001:db8:1:2:ffff::9"), PROXIES) == "2001:db8:1:2::/64"
    assert key(_request("10.0.0.2", "2001:db8:1:3::7"), PROXIES) == "2001:db8:1:3::/64"
    assert key(_request("10.0.0.2", "::ffff:198.51.100.1"), PROXIES) == "198.51.100.1"
    assert key(_request("10.0.0.2", "198.51.100.1"), PROXIES) != key(_request("10.0.0.2", "198.51.100.2"), PROXIES)


def test_a_trusted_proxy_is_matched_by_its_own_address_not_its_64() -> None:
    """Grouping by /64 is for keys; trust is exact, so a neighbour of a trusted IPv6 proxy is not trusted."""
    trusted = (ip_network("2001:db8:1:2::10/128"),)
    assert client_address("2001:db8:1:2::10", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert client_address("2001:db8:1:2::11", ["198.51.100.1"], trusted) == "2001:db8:1:2::11"


def test_without_trusted_proxies_a_forged_header_does_not_change_the_key() -> None:
    assert request_address_key(_request("203.0.113.7", "198.51.100.1"), ()) == "203.0.113.7"
    assert request_address_key(_request("203.0.113.7"), ()) == "203.0.113.7"


def test_the_password_gate_runs_its_slots_queues_the_next_and_refuses_beyond_the_queue() -> None:
    """Two slots, two waiting: of six sign-ins at once four are checked and two refused at once."""
    gate = PasswordCheckGate(concurrency=2, queue=2)
    release = threading.Event()
    running: list[int] = []

    def check(n: int) -> int:
        running.append(n)
        release.wait(5)
        return n

    async def attempt(n: int) -> int | str:
        try:
            return await gate.run(check, n)
        except RateLimitedError as refused:
            return f"refused, retry after {refused.retry_after} s"

    async def flood() -> list[int | str]:
        tasks = [asyncio.ensure_future(attempt(n)) for n in range(6)]
        while len(running) < 2:
            await asyncio.sleep(0.01)
        assert sorted(running) == [0, 1]  # the queue waits on the event loop, holding no thread
        release.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(flood()) == [0, 1, 2, 3, "refused, retry after 1 s", "refused, retry after 1 s"]
