"""The upstream client against the real demo vehicle cloud over real HTTP on loopback."""

from __future__ import annotations

import gzip
import json
import ssl
import zlib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.demo import BackgroundServer
from gateway.upstream import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    ErasureNotSupported,
    RequestTooLarge,
    UpstreamClient,
    UpstreamConfig,
    UpstreamError,
    UpstreamResponseRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
    filter_document,
)
from gateway.upstream import client as upstream_client
from gateway.upstream.client import HOP_BY_HOP_HEADERS, _field, _text_fields, forwardable_headers
from tests.gateway.upstream.test_upstream_transport import OK, RawServer, answer, self_signed

from .conftest import hits

pytestmark = pytest.mark.anyio


def config(base_url: str, **overrides: Any) -> UpstreamConfig:
    data: dict[str, Any] = {
        "name": "vehicle-cloud",
        "base_url": base_url,
        "subject": "/customers/{subject}",
        "timeouts": {"connect": 1.0, "read": 2.0, "write": 2.0, "pool": 1.0},
        "retries": {"attempts": 3, "backoff_initial": 0.05, "backoff_max": 0.08},
        "breaker": {"failure_threshold": 100, "reset_timeout": 30},
        "erasure": {"path": "/customers/{subject}"},
        "fields": [{"selector": "/name", "category": "identity.name"}],
    }
    data.update(overrides)
    return UpstreamConfig.model_validate(data)


class Sleeps:
    """Records backoff delays instead of sleeping, so retry tests are fast and exact."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client_for(cfg: UpstreamConfig, sleeps: Sleeps | None = None, **kwargs: Any) -> UpstreamClient:
    return UpstreamClient(cfg, sleep=sleeps or Sleeps(), jitter=lambda: 1.0, **kwargs)


async def test_reads_a_customer_record_and_filters_it(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url)
    async with client_for(cfg) as client:
        response = await client.fetch(cfg.resolve("customers/cust-1001"))
    assert (response.status_code, response.attempts) == (200, 1)
    result = filter_document(response.json(), cfg.field_map, {"identity.name"})
    assert result.document == {"name": "Li Wei"}


async def test_fetch_filtered_releases_only_released_categories(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url)
    async with client_for(cfg) as client:
        released = await client.fetch_filtered(cfg.resolve("customers/cust-1001"), {"identity.name"})
        withheld = await client.fetch_filtered(cfg.resolve("customers/cust-1001"), set())
        missing = await client.fetch_filtered(cfg.resolve("customers/cust-0000"), {"identity.name"})
    assert released.result is not None and released.result.document == {"name": "Li Wei"}
    assert "/phone" in released.result.unmapped
    assert withheld.result is not None and withheld.result.document == {}
    assert withheld.result.withheld_categories == ("identity.name",)
    assert (missing.status_code, missing.result) == (404, None)


async def test_fetch_filtered_refuses_other_4xx_non_json_and_hostile_nesting(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url, subject={"paths": ["/text", "/deep", "/forbidden"], "query": "id"})
    async with client_for(cfg) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.fetch_filtered(cfg.resolve("/forbidden", {"id": "cust-1"}), {"identity.name"})
        assert caught.value.status == 403
        with pytest.raises(UpstreamResponseRefused, match="not JSON"):
            await client.fetch_filtered(cfg.resolve("/text", {"id": "cust-1"}), {"identity.name"})
        with pytest.raises(UpstreamResponseRefused, match="deeper than 64"):
            await client.fetch_filtered(cfg.resolve("/deep", {"id": "cust-1"}), {"identity.name"})


async def test_a_404_is_the_upstreams_answer_not_a_failure(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url)
    async with client_for(cfg) as client:
        response = await client.fetch(cfg.resolve("/customers/cust-9999"))
    assert response.status_code == 404
    assert response.json()["status"] == 404  # application/problem+json is JSON too
    assert client.breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_idempotent_methods_are_retried_with_exponential_backoff(
    vehicle_cloud: BackgroundServer, method: str
) -> None:
    sleeps = Sleeps()
    async with client_for(config(vehicle_cloud.url), sleeps) as client:
        response = await client.request(method, "/flaky/2")
    assert (response.status_code, response.attempts) == (200, 3)
    assert hits(vehicle_cloud, method, "/flaky/2") == 3
    assert sleeps.delays == [0.05, 0.08]  # initial, then doubled but capped at backoff_max


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_non_idempotent_methods_are_never_retried(vehicle_cloud: BackgroundServer, method: str) -> None:
    sleeps = Sleeps()
    async with client_for(config(vehicle_cloud.url), sleeps) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request(method, "/flaky/1", content=b"{}")
    assert caught.value.status == 503
    assert hits(vehicle_cloud, method, "/flaky/1") == 1
    assert sleeps.delays == []


async def test_retries_stop_after_the_configured_attempts(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", "/flaky/10")
    assert (caught.value.status, caught.value.status_code, caught.value.problem_type) == (503, 502, "upstream-error")
    assert hits(vehicle_cloud, "GET", "/flaky/10") == 3


async def test_a_500_is_not_in_the_retry_statuses_and_fails_at_once(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        with pytest.raises(UpstreamError, match="HTTP 500"):
            await client.request("GET", "/boom")
    assert hits(vehicle_cloud, "GET", "/boom") == 1


async def test_read_timeout_raises_upstream_timeout_after_retries(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url, timeouts={"read": 0.2}, retries={"attempts": 2, "backoff_initial": 0})
    async with client_for(cfg) as client:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.request("GET", "/slow", params={"seconds": "1"})
    assert (caught.value.status_code, caught.value.problem_type) == (504, "upstream-timeout")
    assert hits(vehicle_cloud, "GET", "/slow") == 2


async def test_post_timeout_is_not_retried(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url, timeouts={"read": 0.2})
    async with client_for(cfg) as client:
        with pytest.raises(UpstreamTimeout):
            await client.request("POST", "/slow", params={"seconds": "1"})
    assert hits(vehicle_cloud, "POST", "/slow") == 1


async def test_upstream_down_raises_unavailable(free_port: int) -> None:
    sleeps = Sleeps()
    async with client_for(config(f"http://127.0.0.1:{free_port}"), sleeps) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            await client.request("GET", "/customers/cust-1001")
    assert (caught.value.status_code, caught.value.problem_type) == (502, "upstream-unavailable")
    assert len(sleeps.delays) == 2  # connection refused is retried for GET, then reported


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_breaker_opens_after_failures_and_half_opens_after_reset(vehicle_cloud: BackgroundServer) -> None:
    clock = Clock()
    cfg = config(vehicle_cloud.url, retries={"attempts": 1})
    breaker = CircuitBreaker(cfg.name, failure_threshold=2, reset_timeout=5, clock=clock)
    async with client_for(cfg, breaker=breaker) as client:
        for _ in range(2):
            with pytest.raises(UpstreamError):
                await client.request("GET", "/flaky/2")
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpen) as caught:
            await client.request("GET", "/flaky/2")
        assert caught.value.status_code == 503
        assert hits(vehicle_cloud, "GET", "/flaky/2") == 2  # refused without calling the upstream
        clock.now += 5
        assert breaker.state is BreakerState.HALF_OPEN
        response = await client.request("GET", "/flaky/2")
        assert response.status_code == 200
        assert breaker.state is BreakerState.CLOSED


async def test_breaker_counts_an_upstream_that_is_down(free_port: int) -> None:
    clock = Clock()
    cfg = config(f"http://127.0.0.1:{free_port}", retries={"attempts": 1})
    breaker = CircuitBreaker(cfg.name, failure_threshold=3, reset_timeout=5, clock=clock)
    async with client_for(cfg, breaker=breaker) as client:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable):
                await client.request("GET", "/customers/cust-1001")
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/customers/cust-1001")


async def test_open_circuit_interrupts_retries(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url, retries={"attempts": 5, "backoff_initial": 0})
    breaker = CircuitBreaker(cfg.name, failure_threshold=2, reset_timeout=60)
    async with client_for(cfg, breaker=breaker) as client:
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/flaky/10")
    assert hits(vehicle_cloud, "GET", "/flaky/10") == 2


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/text", "text/plain"),
        ("/html-json", "text/html"),
        ("/latin1", "charset=iso-8859-1"),
        ("/nan", "malformed JSON"),
        ("/broken", "malformed JSON"),
        ("/lone-surrogate", "lone surrogate"),
    ],
)
async def test_anything_but_strict_json_is_refused(vehicle_cloud: BackgroundServer, path: str, reason: str) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        response = await client.request("GET", path)
        with pytest.raises(UpstreamResponseRefused, match=reason) as caught:
            response.json()
    assert (caught.value.status_code, caught.value.problem_type) == (502, "upstream-response-refused")


async def test_escaped_surrogate_pairs_and_escaped_backslashes_are_text(vehicle_cloud: BackgroundServer) -> None:
    """RFC 8259 §7: a character outside the BMP may be escaped as a surrogate pair; only a lone one is refused."""
    async with client_for(config(vehicle_cloud.url)) as client:
        assert (await client.request("GET", "/surrogate-pair")).json() == {"a": "\N{AUTOMOBILE}", "b": "\\ud800"}


async def test_a_body_that_cannot_be_decoded_is_refused(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        with pytest.raises(UpstreamResponseRefused, match="could not be decoded"):
            await client.request("GET", "/bad-gzip")
        assert client.breaker.state is BreakerState.CLOSED
    assert hits(vehicle_cloud, "GET", "/bad-gzip") == 1


async def test_problem_json_media_type_is_json(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        assert (await client.request("GET", "/problem")).json() == {"title": "x"}


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_responses_over_the_size_cap_are_refused(vehicle_cloud: BackgroundServer, path: str) -> None:
    cfg = config(vehicle_cloud.url, limits={"max_response_bytes": 1000})
    async with client_for(cfg) as client:
        assert (await client.request("GET", path, params={"size": "900"})).status_code == 200
        with pytest.raises(UpstreamResponseRefused, match="exceeds 1000 bytes"):
            await client.request("GET", path, params={"size": "1200"})
        assert client.breaker.state is BreakerState.CLOSED  # the upstream is up; its answer is just unusable
    assert hits(vehicle_cloud, "GET", path) == 2  # refusal is not retried


async def test_request_bodies_over_the_cap_are_not_sent(vehicle_cloud: BackgroundServer) -> None:
    cfg = config(vehicle_cloud.url, limits={"max_request_bytes": 10})
    async with client_for(cfg) as client:
        with pytest.raises(RequestTooLarge) as caught:
            await client.request("POST", "/echo-headers", content=b"x" * 11)
    assert caught.value.status_code == 413
    assert hits(vehicle_cloud, "POST", "/echo-headers") == 0


async def test_redirects_are_not_followed(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", "/redirect")
    assert caught.value.status == 302


async def test_hop_by_hop_and_credential_headers_do_not_cross_the_gateway(vehicle_cloud: BackgroundServer) -> None:
    outgoing = [
        ("Authorization", "Bearer gateway-token"),
        ("Cookie", "portal=1"),
        ("Connection", "X-Client-Private"),
        ("X-Client-Private", "secret"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Accept-Encoding", "x-unknown-coding"),
        ("X-Smuggle", "a\r\nX-Injected: 1"),
        ("Bad Name", "x"),
        ("X-Request-Id", "req-1"),
    ]
    async with client_for(config(vehicle_cloud.url)) as client:
        response = await client.request("GET", "/echo-headers", headers=outgoing)
    received = response.json()["received"]
    dropped = ("authorization", "cookie", "x-client-private", "keep-alive", "te", "upgrade", "proxy-authorization")
    for name in (*dropped, "x-smuggle", "x-injected", "bad name"):
        assert name not in received
    assert "x-unknown-coding" not in received["accept-encoding"]
    assert received["x-request-id"] == "req-1"
    assert received["accept"] == "application/json"
    names = {name for name, _ in response.headers}
    assert "x-kept" in names
    assert not names & {"connection", "x-upstream-private", "set-cookie", "etag", "content-length"}


async def test_erasure_is_forwarded_and_is_idempotent(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        first = await client.erase("cust-1002")
        second = await client.erase("cust-1002")
        gone = await client.fetch_record("cust-1002")
    assert (first.status, first.upstream_status) == ("erased", 204)
    assert (second.status, second.upstream_status) == ("already-absent", 404)
    assert gone.status_code == 404
    assert hits(vehicle_cloud, "DELETE", "/customers/cust-1002") == 2


async def test_erasure_needs_a_registered_endpoint(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url, erasure=None)) as client:
        with pytest.raises(ErasureNotSupported, match="does not support erasure"):
            await client.erase("cust-1001")
    assert hits(vehicle_cloud, "DELETE", "/customers/cust-1001") == 0


async def test_a_deletion_by_category_sends_the_mapped_fields_and_a_missing_subject_is_already_absent(
    vehicle_cloud: BackgroundServer,
) -> None:
    fields = [
        {"selector": "/name", "category": "identity.name"},
        {"selector": "/driving", "category": "behavior.driving", "subtree": True},
        {"selector": "/location/lat", "category": "location.precise"},
        {"selector": "/location/lon", "category": "location.precise"},
    ]
    cfg = config(vehicle_cloud.url, deletion={"path": "/customers/{subject}/deletions"}, fields=fields)
    assert cfg.selectors_of(["location.precise", "behavior.driving"]) == ("/driving", "/location/lat", "/location/lon")
    async with client_for(cfg) as client:
        done = await client.delete_categories("cust-1002", ["behavior.driving", "location.precise"])
        record = (await client.fetch_record("cust-1002")).json()
        absent = await client.delete_categories("cust-9999", ["behavior.driving"])
    assert (done.status, done.upstream_status) == ("deleted", 200)
    assert "driving" not in record and "lat" not in record["location"] and record["name"]
    assert (absent.status, absent.upstream_status) == ("already-absent", 404)
    sent = vehicle_cloud.app.state.deletions  # type: ignore[attr-defined]
    assert sent[0]["categories"] == ["behavior.driving", "location.precise"]


async def test_a_deletion_by_category_needs_a_registered_endpoint(vehicle_cloud: BackgroundServer) -> None:
    async with client_for(config(vehicle_cloud.url)) as client:
        with pytest.raises(ErasureNotSupported, match="does not support deletion by category"):
            await client.delete_categories("cust-1001", ["identity.name"])
    assert hits(vehicle_cloud, "POST", "/customers/cust-1001/deletions") == 0


async def test_connections_are_pooled_across_requests(vehicle_cloud: BackgroundServer) -> None:
    """One AsyncClient per upstream: sequential requests reuse one keep-alive connection (one client port)."""
    async with client_for(config(vehicle_cloud.url)) as client:
        ports = {(await client.request("GET", "/peer")).json()["port"] for _ in range(5)}
    assert len(ports) == 1


async def test_upstream_cookies_are_never_sent_back(vehicle_cloud: BackgroundServer) -> None:
    """No cookie jar: a Set-Cookie from one subject's read must not ride along with the next read."""
    async with client_for(config(vehicle_cloud.url)) as client:
        first = await client.request("GET", "/echo-headers")
        second = await client.request("GET", "/echo-headers")
    assert "cookie" not in first.json()["received"]
    assert "cookie" not in second.json()["received"]


async def test_environment_proxies_are_ignored(
    vehicle_cloud: BackgroundServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing would ever answer
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with client_for(config(vehicle_cloud.url)) as client:
        assert (await client.request("GET", "/peer")).status_code == 200


async def test_any_httpx_transport_receives_a_complete_request() -> None:
    """Requests are built whole (Host, Accept, lengths, the base path), so a test's MockTransport sees the wire view."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "Li Wei"})

    cfg = config("http://upstream.example:8080/api/v2")
    async with client_for(cfg, transport=httpx.MockTransport(handler)) as client:
        await client.request("GET", "/customers/cust-1", params={"view": "full & more"})
        await client.request("POST", "/customers/cust-1/notes", content=b'{"a": 1}', headers=[("X-Request-Id", "r")])
    get, post = seen
    assert str(get.url) == "http://upstream.example:8080/api/v2/customers/cust-1?view=full%20%26%20more"
    assert (get.headers["host"], get.headers["accept"]) == ("upstream.example:8080", "application/json")
    assert get.headers["accept-encoding"] == "gzip, deflate"
    assert "content-length" not in get.headers
    assert (post.headers["content-length"], post.headers["x-request-id"], post.content) == ("8", "r", b'{"a": 1}')


def test_forwarded_headers_drop_hop_by_hop_named_and_malformed_fields() -> None:
    """RFC 9110 §7.6.1 (hop-by-hop and what Connection names) and §5.5 (no control character but HTAB)."""
    kept = forwardable_headers(
        [
            ("Accept-Language", "zh-CN,\tzh;q=0.9"),
            ("Connection", "close, X-Private"),
            ("X-Private", "hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Control", "a\x01b"),
            ("X-Delete", "a\x7fb"),
            ("Bad Name", "x"),
            ("X-Trace", "abc"),
        ],
        HOP_BY_HOP_HEADERS | {"x-trace"},
    )
    assert kept == [("accept-language", "zh-CN,\tzh;q=0.9")]


def _coded(body: bytes, coding: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json", "content-encoding": coding}
        return httpx.Response(200, headers=headers, content=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda data: data),
    ],
)
async def test_rfc9110_content_codings_are_decoded(coding: str, encode: Callable[[bytes], bytes]) -> None:
    record = json.dumps({"name": "Li Wei"}).encode()
    async with client_for(config("http://upstream.test"), transport=_coded(encode(record), coding)) as client:
        assert (await client.request("GET", "/customers/cust-1001")).json() == {"name": "Li Wei"}


class _Inflater:
    """Wraps a real decompressor and remembers the most it ever produced in one call."""

    def __init__(self) -> None:
        self.inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.largest = 0

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self.inner.decompress(data, max_length)
        self.largest = max(self.largest, len(out))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_compressed_answer_that_would_inflate_past_the_cap_is_refused_before_it_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zip bomb: 64 MiB of zeros compress to ~64 KiB; inflation stops at the cap (1 MiB here)."""
    inflater = _Inflater()
    monkeypatch.setattr(upstream_client, "_decoder", lambda upstream, coding: inflater)
    bomb = gzip.compress(b"0" * (64 << 20))
    cap = 1 << 20
    async with client_for(
        config("http://upstream.test", limits={"max_response_bytes": cap}), transport=_coded(bomb, "gzip")
    ) as client:
        with pytest.raises(UpstreamResponseRefused, match="exceeds"):
            await client.request("GET", "/customers/cust-1001")
    assert 0 < inflater.largest <= cap + 1


@pytest.mark.parametrize(
    ("limits", "body", "refused"),
    [
        ({"max_leaves": 5}, b'{"name": "Li Wei", "junk": [0, 0, 0, 0]}', False),
        ({"max_leaves": 5}, b'{"name": "Li Wei", "junk": [0, 0, 0, 0, 0]}', True),
        ({"max_leaves": 2}, b'{"name": "Li, Wei, and, more", "note": "a,b,c"}', False),
        ({"max_depth": 3}, b'{"name": "Li Wei", "a": {"b": {"c": 1}}}', False),
        ({"max_depth": 3}, b'{"name": "Li Wei", "a": {"b": {"c": {"d": 1}}}}', True),
        ({"max_leaves": 3000}, b'{"name": "Li Wei", "junk": [' + b"0," * 2999 + b"0]}", True),
    ],
    ids=["at the leaf cap", "over it", "commas in strings", "at the depth cap", "over it", "filtered in a thread"],
)
async def test_a_response_over_the_leaf_or_depth_cap_is_refused_whole(
    limits: dict[str, int], body: bytes, refused: bool
) -> None:
    cfg = config("http://upstream.test", limits=limits)
    json_answer = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "application/json"}, content=body)
    )
    async with client_for(cfg, transport=json_answer) as client:
        read = client.fetch_filtered(cfg.resolve("customers/cust-1001"), {"identity.name"})
        if refused:
            with pytest.raises(UpstreamResponseRefused) as caught:
                await read
            assert caught.value.status_code == 502
        else:
            result = (await read).result
            assert result is not None and result.document == {"name": json.loads(body)["name"]}


@pytest.mark.parametrize(
    ("coding", "body", "reason"),
    [
        ("br", b"whatever", "unsupported content coding"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), "unsupported content coding"),
        ("gzip", gzip.compress(b'{"a": 1}')[:-6], "truncated"),
    ],
    ids=["unknown", "stacked", "truncated"],  # gzip output holds a timestamp: ids must not (xdist compares them)
)
async def test_unknown_stacked_or_truncated_codings_are_refused(coding: str, body: bytes, reason: str) -> None:
    async with client_for(config("http://upstream.test"), transport=_coded(body, coding)) as client:
        with pytest.raises(UpstreamResponseRefused, match=reason):
            await client.request("GET", "/customers/cust-1001")


async def test_an_https_upstream_signed_by_a_private_ca_is_trusted_only_through_its_ca_file(tmp_path: Path) -> None:
    """`tls.ca_file` names the partner's CA; without it the system store refuses the same server (fail closed)."""
    certificate = self_signed("127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(certificate.cert_pem)
    (tmp_path / "key.pem").write_bytes(certificate.key_pem)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    async with RawServer(answer(OK), tls=server_side) as server:
        trusted = config(server.url, tls={"ca_file": str(tmp_path / "cert.pem")})
        async with client_for(trusted) as client:
            assert (await client.request("GET", "/customers/cust-1001")).content == b"ok"
        async with client_for(config(server.url, retries={"attempts": 1})) as client:
            with pytest.raises(UpstreamUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await client.request("GET", "/customers/cust-1001")


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"ca_file": "/nonexistent/ca.pem"}, "does not point to a file"),
        ({"client_key_file": "/etc/hostname"}, "client_key_file needs client_cert_file"),
        ({"ca_file": "/etc/hostname"}, "cannot be loaded"),
    ],
)
def test_tls_files_are_checked_when_the_registry_loads(tls: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        config("https://partner.example", tls=tls)


# The request-target and the response fields without httpx objects: the same results as httpx gave before.

BASE_URLS = [
    "http://upstream.example:8080/api/v2",
    "https://Partner.Example",
    "http://127.0.0.1:8701/",
    "http://[::1]:9000/a%2Fb/c;v=1",
    "http://h.test/base path/é",
    "http://h.test/a/./b",
    "http://h.test/?",
]


def httpx_target(base_url: str, path: str, params: Mapping[str, str] | None) -> tuple[tuple[str, str, int], bytes]:
    """How the client built a request before: ``httpx.URL(base_url + path + query)``, as the transport read it."""
    url = base_url + path
    if params:
        url += "?" + urlencode(params, quote_via=quote)
    parsed = httpx.URL(url)
    return (parsed.scheme, parsed.host, parsed.port or {"http": 80, "https": 443}[parsed.scheme]), parsed.raw_path


@cache
def client_at(base_url: str) -> UpstreamClient:
    return UpstreamClient(config(base_url))  # no connection is opened: only the target is computed


URL_CHARACTERS = [*"/./..%?#:@[]\\|^`{}<>\"' !$&'()*+,;=~-_aZ09fF\t\r\n\x00\x7f\x85éü☃𝄞", "%2e", "%2F", "%zz"]
# every character httpx leaves as it is in a path, and dot segments: the cases built without httpx
VERBATIM = [*"!$%&'()*+,-./:;=@[\\]^_|~aZ09", "/", "/", ".", "..", "%2e", "%7B"]
paths = st.one_of(
    st.lists(st.sampled_from(URL_CHARACTERS), max_size=14).map("".join),
    st.lists(st.sampled_from(VERBATIM), max_size=14).map("".join),
    st.lists(st.sampled_from(["a", ".", "..", "%2E", "", "b c", "ü"]), max_size=6).map("/".join),
    st.text(max_size=16),
)
texts = st.one_of(st.text(max_size=8), st.sampled_from(["", "a b", "x&y=z", "/", "%", "ü", "#", "?"]))


@settings(max_examples=500)
@given(
    base_url=st.sampled_from(BASE_URLS),
    path=st.one_of(paths, paths.map(lambda path: "/" + path)),
    params=st.one_of(st.none(), st.dictionaries(texts, texts, max_size=3)),
)
@example(base_url=BASE_URLS[0], path="/customers/" + "x" * 70_000, params=None)  # httpx's URL length limit
@example(base_url=BASE_URLS[0], path="/customers/cust-1001", params={"view": "full & more"})
@example(base_url=BASE_URLS[2], path="", params=None)
@example(base_url=BASE_URLS[0], path=":9/elsewhere", params=None)  # no leading slash: httpx's reading decides
def test_the_request_target_is_exactly_the_one_httpx_built(
    base_url: str, path: str, params: dict[str, str] | None
) -> None:
    """Origin and percent-encoded path and query as before, including httpx's refusals (InvalidURL)."""
    client = client_at(base_url)
    try:
        expected: Any = httpx_target(client.config.base_url, path, params)
    except httpx.InvalidURL as exc:
        expected = type(exc)
    try:
        actual: Any = client._target(path, params)
    except httpx.InvalidURL as exc:
        actual = type(exc)
    assert actual == expected


async def test_a_path_httpx_would_encode_goes_on_the_wire_as_httpx_encoded_it() -> None:
    path, params = "/a b/ü/%zz/./x/../y{z}", {"q": "a b&c", "ü": "/"}
    async with RawServer(answer(OK)) as server:
        cfg = config(server.url + "/base")
        async with client_for(cfg) as client:
            await client.request("GET", path, params=params)
    (seen,) = server.seen
    assert seen.head.startswith(b"GET " + httpx_target(cfg.base_url, path, params)[1] + b" HTTP/1.1\r\n")
    assert seen.head.startswith(b"GET /base/a%20b/%C3%BC/%zz/y%7Bz%7D?q=a%20b%26c&%C3%BC=%2F HTTP/1.1\r\n")


field_bytes = st.one_of(
    st.binary(max_size=10),
    st.text(max_size=10).map(lambda text: text.encode("utf-8")),
    st.sampled_from([b"Content-Length", b"content-encoding", b"CONTENT-ENCODING", b"gzip", b"12"]),
)


@settings(max_examples=300)
@given(fields=st.lists(st.tuples(field_bytes, field_bytes), max_size=5))
def test_response_fields_are_read_as_httpx_headers_read_them(fields: list[tuple[bytes, bytes]]) -> None:
    """Decoding (all ASCII, else all UTF-8, else Latin-1), lowercased names, and repeated fields joined."""
    headers = httpx.Headers(fields)
    text = _text_fields(fields)
    assert text == headers.multi_items()
    for name in ("content-length", "content-encoding"):
        assert _field(text, name) == headers.get(name)
