"""What can go wrong calling an upstream, each kind with the HTTP status the gateway answers with.

``status_code`` and ``problem_type`` (the last segment of the RFC 9457 ``type`` URI) are attributes of the
exception classes so the proxy route maps any of them to problem+json in one place: a failure of the
source system is never the client's fault (no 4xx) and never a gateway bug (no 500).
"""

from __future__ import annotations

__all__ = [
    "ErasureNotSupported",
    "RectificationNotSupported",
    "RequestTooLarge",
    "UnknownUpstream",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamResponseRefused",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class UpstreamFailure(Exception):
    """Base of every failure to obtain a usable answer from an upstream."""

    status_code = 502
    problem_type = "upstream-failure"

    def __init__(self, upstream: str, message: str) -> None:
        self.upstream = upstream
        super().__init__(f"upstream {upstream!r}: {message}")


class UpstreamUnavailable(UpstreamFailure):
    """The connection could not be made or broke before a complete answer (refused, reset, DNS…)."""

    status_code = 502
    problem_type = "upstream-unavailable"


class UpstreamTimeout(UpstreamFailure):
    """The upstream did not connect or answer within its configured timeouts."""

    status_code = 504
    problem_type = "upstream-timeout"


class UpstreamError(UpstreamFailure):
    """The upstream answered with a status the gateway cannot pass on (5xx, or a redirect: never followed)."""

    status_code = 502
    problem_type = "upstream-error"

    def __init__(self, upstream: str, status: int) -> None:
        self.status = status
        super().__init__(upstream, f"answered with HTTP {status}")


class UpstreamResponseRefused(UpstreamFailure):
    """The answer cannot be filtered (not JSON, malformed, too large, too deep), so nothing is released."""

    status_code = 502
    problem_type = "upstream-response-refused"


class RequestTooLarge(ValueError):
    """The client's request body exceeds the upstream's ``max_request_bytes``: the client's fault (413)."""

    status_code = 413
    problem_type = "request-too-large"


class UnknownUpstream(LookupError):
    """No upstream is registered under that name (the proxy answers 404)."""

    status_code = 404
    problem_type = "unknown-upstream"


class ErasureNotSupported(LookupError):
    """The upstream has no erasure endpoint registered; erasure there must be handled out of band."""


class RectificationNotSupported(LookupError):
    """The upstream has no rectification endpoint registered; corrections there must be made out of band."""
