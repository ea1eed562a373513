"""Upstreams: registration, the pooled client with retries and a circuit breaker, and the field filter.

The proxy route uses this package in two steps: ``registry.config(source).resolve(path, query)`` names the
subject (for the policy decision) and the exact upstream request; then
``registry.client(source).fetch_filtered(resolved, released)`` calls the upstream (over
``PooledHTTP11Transport``), refuses anything that is not JSON, and drops everything not released and
everything unmapped.
"""

from gateway.upstream.breaker import BreakerState, CircuitBreaker, CircuitOpen
from gateway.upstream.bulk import AnalyticsAttribute, BulkResource, resolve_pointer
from gateway.upstream.client import (
    HOP_BY_HOP_HEADERS,
    IDEMPOTENT_METHODS,
    DeletionOutcome,
    ErasureOutcome,
    FilteredRead,
    RectificationOutcome,
    UpstreamClient,
    UpstreamResponse,
    forwardable_headers,
)
from gateway.upstream.config import (
    InvalidSubject,
    ResolvedRequest,
    UnknownResource,
    UpstreamConfig,
    UpstreamConfigError,
    load_upstreams,
)
from gateway.upstream.errors import (
    ErasureNotSupported,
    RectificationNotSupported,
    RequestTooLarge,
    UnknownUpstream,
    UpstreamError,
    UpstreamFailure,
    UpstreamResponseRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.upstream.fieldmap import (
    CategoryStatus,
    DocumentTooDeep,
    FieldMap,
    FieldMapping,
    FilterResult,
    InvalidDocument,
    filter_document,
)
from gateway.upstream.registry import UpstreamRegistry
from gateway.upstream.selectors import Selector, SelectorSyntaxError, format_pointer, parse_selector
from gateway.upstream.transport import PooledHTTP11Transport

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "IDEMPOTENT_METHODS",
    "AnalyticsAttribute",
    "BreakerState",
    "BulkResource",
    "CategoryStatus",
    "CircuitBreaker",
    "CircuitOpen",
    "DeletionOutcome",
    "DocumentTooDeep",
    "ErasureNotSupported",
    "ErasureOutcome",
    "FieldMap",
    "FieldMapping",
    "FilterResult",
    "FilteredRead",
    "InvalidDocument",
    "InvalidSubject",
    "PooledHTTP11Transport",
    "RectificationNotSupported",
    "RectificationOutcome",
    "RequestTooLarge",
    "ResolvedRequest",
    "Selector",
    "SelectorSyntaxError",
    "UnknownResource",
    "UnknownUpstream",
    "UpstreamClient",
    "UpstreamConfig",
    "UpstreamConfigError",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamRegistry",
    "UpstreamResponse",
    "UpstreamResponseRefused",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "filter_document",
    "format_pointer",
    "forwardable_headers",
    "load_upstreams",
    "parse_selector",
    "resolve_pointer",
]
