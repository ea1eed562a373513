"""The asynchronous HTTP client the proxy uses to call one registered upstream.

One pooled transport per upstream (``PooledHTTP11Transport`` unless a test passes another; connections are
reused across requests), every phase under a timeout, and a circuit breaker in front. Requests go straight
to the transport's bytes-level ``send``: an ``httpx.AsyncClient`` would add cookie persistence (one
subject's upstream cookies sent along with the next subject's read), redirect and proxy handling the gateway
must not have, and about a third of a millisecond of CPU per request; even httpx's URL, header and
request/response objects alone cost a sizeable share of the proxy's CPU. So what is the same for every
request (origin, Host, base path, the default header block) is computed once, and the request-target is
built as httpx would build it (an equivalence the tests check) without parsing a URL. Any other
``httpx.AsyncBaseTransport`` still works, through an adapter that builds the httpx objects.

Retries happen only for methods RFC 9110 §9.2.2 defines as idempotent: repeating a POST or PATCH could make
the source system act twice, so those are tried once.

The client fails closed: a body beyond the size cap, a redirect, a 5xx or a response that is not JSON
never reaches the field filter, so the gateway cannot accidentally release something it did not parse.
Environment proxies (``HTTP_PROXY``…) are never consulted: upstream traffic goes only where it was registered.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import zlib
from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode

import httpx
import orjson
from starlette.concurrency import run_in_threadpool

from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.config import ResolvedRequest, UpstreamConfig, pointer_tokens
from gateway.upstream.errors import (
    ErasureNotSupported,
    RequestTooLarge,
    UpstreamError,
    UpstreamFailure,
    UpstreamResponseRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.upstream.fieldmap import FilterResult, InvalidDocument, filter_document
from gateway.upstream.transport import (
    IDEMPOTENT_METHODS,
    HeaderBlock,
    Origin,
    PooledHTTP11Transport,
    RawResponse,
    encode_headers,
    origin_of,
)

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "IDEMPOTENT_METHODS",
    "ErasureOutcome",
    "FilteredRead",
    "RectificationOutcome",
    "UpstreamClient",
    "UpstreamResponse",
    "forwardable_headers",
]

# RFC 9110 §7.6.1 (Connection and the fields it names) plus the legacy ones RFC 9112 and proxies still send.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The client's credentials for the gateway are not the upstream's business; lengths are recomputed; the
# gateway itself decodes the body, so it chooses the content codings it can decode.
_REQUEST_DROP = HOP_BY_HOP_HEADERS | {"host", "content-length", "authorization", "cookie", "expect", "accept-encoding"}
_ACCEPT_JSON = ("accept", "application/json")
# the codings the client decodes itself (``_decoder``); the size cap applies to the decoded body
_ACCEPT_ENCODING = ("accept-encoding", "gzip, deflate")
# RFC 9110 §5.1 token and §5.5 field-value (no control character but HTAB): anything else could smuggle a header.
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
# The body is re-encoded after filtering, so headers that describe the original bytes would lie.
_RESPONSE_DROP = HOP_BY_HOP_HEADERS | {
    "content-length",
    "content-encoding",
    "content-md5",
    "content-digest",
    "repr-digest",
    "digest",
    "etag",
    "content-range",
    "accept-ranges",
    "set-cookie",
}


def forwardable_headers(headers: Iterable[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    """Remove hop-by-hop fields, the fields a ``Connection`` header names, those in ``drop``, and malformed ones."""
    pairs = [
        (name.lower(), value)
        for name, value in headers
        if _FIELD_NAME.fullmatch(name) and _FIELD_VALUE.fullmatch(value)
    ]
    named = {token.strip().lower() for name, value in pairs if name == "connection" for token in value.split(",")}
    return [(name, value) for name, value in pairs if name not in drop and name not in named]


# What httpx's URL parser leaves untouched in a path (RFC 3986 pchar and "/", "%", and the few others WHATWG
# does not encode: visible ASCII but '"', "#", "<", ">", "?", "`", "{", "}"); anything else takes httpx's way.
_VERBATIM_PATH = re.compile(r"[\x21\x24-\x3b\x3d\x40-\x5f\x61-\x7a\x7c\x7e]*")
_SCHEME_AUTHORITY = re.compile(r"[^:/?#]+://[^/?#]*")
_MAX_URL_LENGTH = 65536  # httpx refuses longer URLs


def _has_dot_segment(path: str) -> bool:
    return "." in path and any(segment in (".", "..") for segment in path.split("/"))


def _verbatim_base_path(base_url: str) -> str | None:
    """The path of ``base_url`` as written, if httpx leaves it so; a request's path is appended to it."""
    authority = _SCHEME_AUTHORITY.match(base_url)
    if authority is None:
        return None
    path = base_url[authority.end() :]
    return path if _VERBATIM_PATH.fullmatch(path) and not _has_dot_segment(path) else None


def _text_fields(fields: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Raw response fields as text with lowercased names, decoded as ``httpx.Headers`` decodes them: all
    ASCII, else all UTF-8, else Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return [(name.lower().decode(encoding), value.decode(encoding)) for name, value in fields]
        except UnicodeDecodeError:
            continue
    return [(name.lower().decode("iso-8859-1"), value.decode("iso-8859-1")) for name, value in fields]


def _field(fields: list[tuple[str, str]], name: str) -> str | None:
    """All values of a (lowercase) field joined by ", ", as ``httpx.Headers.get`` returns them."""
    values = [value for key, value in fields if key == name]
    return ", ".join(values) if values else None


def _is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if not (media == "application/json" or (media.startswith("application/") and media.endswith("+json"))):
        return False
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _decoder(upstream: str, coding: str) -> Any:
    """A zlib decompressor for the response's content coding (RFC 9110 §8.4.1), None for identity; any
    other coding, or several, is refused rather than passed on undecoded."""
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()  # the zlib format, as §8.4.1.2 defines "deflate"
    raise UpstreamResponseRefused(upstream, f"answered with the unsupported content coding {coding!r}")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# orjson reads an integer beyond 64 bits as a float (losing digits the upstream sent); a body with a run of 19
# digits anywhere takes the standard parser, which keeps them exact. Found by mapping every digit to "0" and
# everything else to a blank, then a substring search: both in C at memory speed, ~10x cheaper than a regex scan.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def _has_long_digit_run(content: bytes) -> bool:
    return _LONG_DIGIT_RUN in content.translate(_DIGITS_AS_ZEROS)


def _is_unicode_text(document: Any) -> bool:
    """Whether every string of a parsed document is Unicode text (escaped surrogates came in pairs)."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Below this many commas a response is filtered on the event loop: its few thousand leaves cost less than
# handing the work to a thread. Anything larger is parsed and filtered in the thread pool.
INLINE_FILTER_LEAVES = 2_000

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def count_leaves(content: bytes, cap: int) -> int:
    """How many leaves (scalars and empty containers) the JSON text `content` holds, without parsing it.

    Every leaf but the last is followed by a comma outside any string, so leaves = such commas + 1. The
    count of all commas bounds that from above and costs one pass in C; only a body whose bound exceeds
    `cap` has its strings blanked out (still in C) for the exact count. Malformed text is left to the parser.
    """
    bound = content.count(b",") + 1
    if bound <= cap:
        return bound
    return _JSON_STRING.sub(b'""', content).count(b",") + 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """An upstream's answer: status, headers safe to forward, and the complete (size-capped) body."""

    upstream: str
    status_code: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    attempts: int

    @property
    def content_type(self) -> str | None:
        return next((value for name, value in self.headers if name == "content-type"), None)

    def json(self) -> Any:
        """The parsed JSON body; ``UpstreamResponseRefused`` if it is not strictly JSON (fail closed)."""
        if not _is_json_media_type(self.content_type):
            raise UpstreamResponseRefused(
                self.upstream, f"answered with {self.content_type or 'no content type'}, not JSON; nothing released"
            )
        if not _has_long_digit_run(self.content):
            # orjson is strict RFC 8259 (no NaN, no lone surrogates, UTF-8 only) and several times faster; what
            # it refuses goes to the standard parser below, which accepts or refuses it with a precise reason.
            try:
                return orjson.loads(self.content)
            except orjson.JSONDecodeError:
                pass
        try:
            document = json.loads(self.content, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise UpstreamResponseRefused(self.upstream, f"answered with malformed JSON: {exc}") from exc
        if _SURROGATE_ESCAPE.search(self.content) is not None and not _is_unicode_text(document):
            # json.loads accepts "\ud800"; such a value could be neither re-encoded nor released
            raise UpstreamResponseRefused(
                self.upstream, "answered with malformed JSON: a lone surrogate escape (RFC 7493 §2.1)"
            )
        return document


@dataclass(frozen=True, slots=True)
class FilteredRead:
    """A proxied read: the upstream's status and forwardable headers, and the filter's verdict.

    ``result`` is ``None`` when the upstream answered 404 or 410 (no such subject there): that body is not
    the subject's data and is never passed on; the gateway answers with its own problem document.
    """

    status_code: int
    headers: tuple[tuple[str, str], ...]
    result: FilterResult | None


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    upstream: str
    subject: str
    status: Literal["erased", "already-absent"]
    upstream_status: int


@dataclass(frozen=True, slots=True)
class DeletionOutcome:
    upstream: str
    subject: str
    status: Literal["deleted", "already-absent"]
    upstream_status: int


@dataclass(frozen=True, slots=True)
class RectificationOutcome:
    upstream: str
    subject: str
    status: Literal["rectified", "not-held"]
    upstream_status: int


# origin, method, origin-form target and header block: the same for every attempt of one request
_Prepared = tuple[Origin, bytes, bytes, HeaderBlock]


class _Sender(Protocol):
    """``PooledHTTP11Transport.send``, or the same over another httpx transport."""

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: HeaderBlock,
        body: bytes,
        timeouts: Mapping[str, float | None],
    ) -> RawResponse: ...


class _HttpxSender:
    """``send`` over any other ``httpx.AsyncBaseTransport`` (a test's ``MockTransport``): the same request
    as httpx objects, so such a transport sees the complete wire view."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: HeaderBlock,
        body: bytes,
        timeouts: Mapping[str, float | None],
    ) -> RawResponse:
        scheme, host, port = origin
        request = httpx.Request(
            method.decode("ascii"),
            httpx.URL(scheme=scheme, host=host, port=port, raw_path=target),
            headers=list(headers.fields),
            stream=httpx.ByteStream(body),
            extensions={"timeout": dict(timeouts)},
        )
        response = await self._transport.handle_async_request(request)
        if not isinstance(response.stream, httpx.AsyncByteStream):
            raise RuntimeError("an async transport answered with a synchronous body stream")
        return RawResponse(response.status_code, response.headers.raw, response.stream)


class UpstreamClient:
    """Calls one upstream. Create once per upstream and share it; close it with ``aclose``."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.breaker = breaker or CircuitBreaker(
            config.name,
            failure_threshold=config.breaker.failure_threshold,
            reset_timeout=config.breaker.reset_timeout,
        )
        self._sleep = sleep
        self._jitter = jitter
        t = config.timeouts
        self._timeouts = {"connect": t.connect, "read": t.read, "write": t.write, "pool": t.pool}
        self._base_url = config.base_url
        base = httpx.URL(config.base_url)
        self._origin = origin_of(base)
        # requests are built whole here (Host, lengths), so any httpx transport, not only ours, can send them
        self._host = ("host", base.netloc.decode("ascii"))
        self._netloc = base.netloc
        self._default_headers = encode_headers(
            [
                (name.encode("ascii"), value.encode("ascii"))
                for name, value in (self._host, _ACCEPT_JSON, _ACCEPT_ENCODING)
            ],
            host=self._netloc,
        )
        self._base_path = _verbatim_base_path(config.base_url)
        self._transport = transport or PooledHTTP11Transport(
            max_connections=config.limits.max_connections,
            max_keepalive_connections=config.limits.max_keepalive_connections,
            ssl_context=config.tls.context() if config.base_url.startswith("https:") else None,
        )
        self._sender: _Sender = (
            self._transport if isinstance(self._transport, PooledHTTP11Transport) else _HttpxSender(self._transport)
        )

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def fetch(
        self,
        resolved: ResolvedRequest,
        *,
        method: str = "GET",
        headers: Iterable[tuple[str, str]] = (),
        content: bytes | None = None,
    ) -> UpstreamResponse:
        """Send a request resolved by ``UpstreamConfig.resolve``; returns 2xx and 4xx answers."""
        return await self.request(method, resolved.path, params=resolved.params, headers=headers, content=content)

    async def fetch_filtered(
        self,
        resolved: ResolvedRequest,
        released: Collection[str],
        *,
        method: str = "GET",
        headers: Iterable[tuple[str, str]] = (),
    ) -> FilteredRead:
        """Fetch and keep only what ``released`` allows: the whole fail-closed path in one call."""
        response = await self.fetch(resolved, method=method, headers=headers)
        if response.status_code in (404, 410):
            return FilteredRead(response.status_code, response.headers, None)
        if response.status_code >= 400:
            # the request was built from the registration, so any other refusal is a gateway-side problem
            raise UpstreamError(self.config.name, response.status_code)
        if response.content.count(b",") < INLINE_FILTER_LEAVES:
            result = self._filter(response, released)  # a few thousand leaves at most: cheaper than a thread hop
        else:
            result = await run_in_threadpool(self._filter, response, released)
        return FilteredRead(response.status_code, response.headers, result)

    def _filter(self, response: UpstreamResponse, released: Collection[str]) -> FilterResult:
        """Parse and filter within the upstream's leaf and depth caps; may run in a worker thread."""
        limits = self.config.limits
        leaves = count_leaves(response.content, limits.max_leaves)
        if leaves > limits.max_leaves:
            raise UpstreamResponseRefused(
                self.config.name, f"answered with more than {limits.max_leaves} JSON values; nothing released"
            )
        document = response.json()
        try:
            return filter_document(document, self.config.field_map, released, max_depth=limits.max_depth)
        except InvalidDocument as exc:
            raise UpstreamResponseRefused(self.config.name, str(exc)) from exc

    async def fetch_record(self, subject: str) -> UpstreamResponse:
        """GET the subject's main record (portability exports)."""
        return await self.fetch(self.config.record_request(subject))

    async def erase(self, subject: str) -> ErasureOutcome:
        """Forward an erasure; a 404 or 410 means already gone, which is the goal of erasure too."""
        method, resolved = self.config.erasure_request(subject)
        response = await self.fetch(resolved, method=method)
        if 200 <= response.status_code < 300:
            return ErasureOutcome(self.config.name, subject, "erased", response.status_code)
        if response.status_code in (404, 410):
            return ErasureOutcome(self.config.name, subject, "already-absent", response.status_code)
        raise UpstreamError(self.config.name, response.status_code)

    async def delete_categories(self, subject: str, categories: Sequence[str]) -> DeletionOutcome:
        """Ask the source to delete these categories of the subject (and the fields that map to them); a 404 or
        410 means the subject is not held, which leaves nothing to delete. Raises ``ErasureNotSupported`` when
        the registration has no deletion rule."""
        request = self.config.deletion_request(subject)
        if request is None:
            raise ErasureNotSupported(f"upstream {self.config.name!r} does not support deletion by category")
        method, resolved = request
        body = json.dumps(
            {"categories": list(categories), "fields": list(self.config.selectors_of(categories))}
        ).encode()
        response = await self.request(
            method,
            resolved.path,
            params=resolved.params,
            headers=(("content-type", "application/json"),),
            content=body,
        )
        if 200 <= response.status_code < 300:
            return DeletionOutcome(self.config.name, subject, "deleted", response.status_code)
        if response.status_code in (404, 410):
            return DeletionOutcome(self.config.name, subject, "already-absent", response.status_code)
        raise UpstreamError(self.config.name, response.status_code)

    async def rectify(self, subject: str, pointer: str, value: str) -> RectificationOutcome:
        """Forward a correction as a JSON Merge Patch (RFC 7396) setting the field at `pointer` to `value`; a 404
        or 410 means the source holds no record of the subject, so there is nothing to correct there."""
        method, resolved = self.config.rectification_request(subject)
        patch: Any = value
        for token in reversed(pointer_tokens(pointer)):
            patch = {token: patch}
        body = json.dumps(patch, ensure_ascii=False).encode()
        headers = (("content-type", "application/merge-patch+json"),)
        response = await self.fetch(resolved, method=method, headers=headers, content=body)
        if 200 <= response.status_code < 300:
            return RectificationOutcome(self.config.name, subject, "rectified", response.status_code)
        if response.status_code in (404, 410):
            return RectificationOutcome(self.config.name, subject, "not-held", response.status_code)
        raise UpstreamError(self.config.name, response.status_code)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Iterable[tuple[str, str]] = (),
        content: bytes | None = None,
    ) -> UpstreamResponse:
        """Send with retries (idempotent methods only) behind the breaker.

        Returns 2xx and 4xx answers (a 404 is the upstream's truthful answer); raises ``UpstreamError``
        for anything else, ``UpstreamTimeout``, ``UpstreamUnavailable``, ``UpstreamResponseRefused``,
        ``CircuitOpen`` or ``RequestTooLarge``.
        """
        method = method.upper()
        if content is not None and len(content) > self.config.limits.max_request_bytes:
            raise RequestTooLarge(
                f"request body of {len(content)} bytes exceeds the {self.config.limits.max_request_bytes}-byte "
                f"limit of upstream {self.config.name!r}"
            )
        outgoing: list[tuple[bytes, bytes]] | None = None  # None: the default header block
        if headers or content is not None:
            forwarded = [self._host, *forwardable_headers(headers, _REQUEST_DROP)]
            if not any(name == "accept" for name, _ in forwarded):
                forwarded.append(_ACCEPT_JSON)
            forwarded.append(_ACCEPT_ENCODING)
            if content is not None:
                forwarded.append(("content-length", str(len(content))))
            # ASCII only, as httpx.Headers encoded them (a UnicodeEncodeError here, before any attempt)
            outgoing = [(name.encode("ascii"), value.encode("ascii")) for name, value in forwarded]
        policy = self.config.retries
        attempts = policy.attempts if method in IDEMPOTENT_METHODS else 1
        failure: UpstreamFailure | None = None
        prepared: _Prepared | None = None
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await self._sleep(min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 2)) * self._jitter())
            self.breaker.before_call()
            try:
                if prepared is None:
                    prepared = self._prepare(method, path, params, outgoing)
                response = await self._send(prepared, content, attempt)
            except httpx.PoolTimeout as exc:
                # our own pool is saturated: not the upstream's fault, so not a breaker failure
                self.breaker.record_abandoned()
                raise UpstreamTimeout(self.config.name, "no free connection in the pool in time") from exc
            except httpx.LocalProtocolError as exc:
                # a request we could not even write is our side's fault, never the upstream's
                self.breaker.record_abandoned()
                raise UpstreamUnavailable(self.config.name, f"request could not be sent: {exc}") from exc
            except httpx.TimeoutException as exc:
                self.breaker.record_failure()
                failure = UpstreamTimeout(self.config.name, f"timed out ({type(exc).__name__})")
                continue
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                failure = UpstreamUnavailable(self.config.name, f"unreachable ({type(exc).__name__}: {exc})")
                continue
            except UpstreamResponseRefused:
                self.breaker.record_success()
                raise
            except httpx.HTTPError as exc:
                self.breaker.record_failure()
                raise UpstreamUnavailable(self.config.name, f"failed ({type(exc).__name__}: {exc})") from exc
            except BaseException:
                self.breaker.record_abandoned()
                raise
            if response.status_code >= 500:
                self.breaker.record_failure()
                failure = UpstreamError(self.config.name, response.status_code)
                if response.status_code in policy.on_status:
                    continue
                raise failure
            self.breaker.record_success()
            if not (200 <= response.status_code < 300 or 400 <= response.status_code < 500):
                raise UpstreamError(self.config.name, response.status_code)
            return response
        assert failure is not None
        raise failure

    async def _read_capped(self, raw: bytes | AsyncIterable[bytes], coding: str, cap: int) -> bytes:
        """The decoded body, refused as soon as it would pass `cap`: a coded body is inflated at most `cap`
        bytes at a time, so a small compressed answer cannot expand into gigabytes first (a zip bomb)."""
        decoder = _decoder(self.config.name, coding)
        if decoder is None and isinstance(raw, bytes):
            if len(raw) > cap:
                raise UpstreamResponseRefused(self.config.name, f"response exceeds {cap} bytes")
            return raw
        body = bytearray()

        def take(chunk: bytes) -> None:
            nonlocal body
            if decoder is None:
                body += chunk
            else:
                # at most one byte past the cap: when the limit stops it, the cap is already exceeded
                body += decoder.decompress(chunk, cap + 1 - len(body))
            if len(body) > cap:
                raise UpstreamResponseRefused(self.config.name, f"response exceeds {cap} bytes")

        try:
            if isinstance(raw, bytes):
                take(raw)
            else:
                async for chunk in raw:
                    take(chunk)
            if decoder is not None:
                body += decoder.flush()
                if not decoder.eof:
                    raise UpstreamResponseRefused(self.config.name, "body could not be decoded: truncated stream")
        except zlib.error as exc:
            raise UpstreamResponseRefused(self.config.name, f"body could not be decoded: {exc}") from exc
        if len(body) > cap:
            raise UpstreamResponseRefused(self.config.name, f"response exceeds {cap} bytes")
        return bytes(body)

    def _target(self, path: str, params: Mapping[str, str] | None) -> tuple[Origin, bytes]:
        """Where to send and the origin-form target: exactly what httpx made of ``base_url + path + query``,
        built without parsing a URL when httpx would leave the path as it is (the registered paths always)."""
        query = "?" + urlencode(params, quote_via=quote) if params else ""
        base_path = self._base_path
        if (
            base_path is not None
            and path[:1] == "/"
            and _VERBATIM_PATH.fullmatch(path) is not None
            and not _has_dot_segment(path)
            and len(self._base_url) + len(path) + len(query) <= _MAX_URL_LENGTH
        ):
            return self._origin, (base_path + path + query).encode("ascii")
        url = httpx.URL(self._base_url + path + query)
        return origin_of(url), url.raw_path

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: list[tuple[bytes, bytes]] | None,
    ) -> _Prepared:
        """What every attempt of one request sends. Built by the first attempt, once the breaker admitted it, so
        a refusal here (``httpx.InvalidURL``, ``httpx.LocalProtocolError``) is handled as an attempt's error."""
        origin, target = self._target(path, params)
        block = self._default_headers if headers is None else encode_headers(headers, host=self._netloc)
        return origin, method.encode("ascii"), target, block

    async def _send(self, prepared: _Prepared, content: bytes | None, attempt: int) -> UpstreamResponse:
        cap = self.config.limits.max_response_bytes
        origin, method, target, block = prepared
        response = await self._sender.send(origin, method, target, block, content or b"", self._timeouts)
        try:
            fields = _text_fields(response.headers)
            declared = _field(fields, "content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                raise UpstreamResponseRefused(self.config.name, f"response of {declared} bytes exceeds {cap} bytes")
            body = await self._read_capped(response.body, _field(fields, "content-encoding") or "", cap)
        finally:
            await response.aclose()
        kept = tuple(forwardable_headers(fields, _RESPONSE_DROP))
        return UpstreamResponse(self.config.name, response.status, kept, body, attempt)
