"""HTTP plumbing every route shares: RFC 9457 problem details, `Idempotency-Key` replay, the request head
and body size limits, headers that may appear once, JSON body parsing, request context and metrics, and the
proxy's direct (FastAPI-free) routes.

Nothing here knows about consents, customers or the ledger's meaning; the wings above raise `Problem`s and
this layer turns them into responses.
"""

from gateway.web.body_limits import BodySizeLimitMiddleware, BodyTooLarge
from gateway.web.credential_problems import credential_problem, rule_problem, verification_problem
from gateway.web.direct_routes import DirectApp, DirectRoutes
from gateway.web.idempotency import (
    REPLAY_HEADER,
    IdempotencyMiddleware,
    IdempotencyStore,
    IdempotentReplay,
    StoredResponse,
    idempotent,
)
from gateway.web.json_body import PRESENTATION_MAX_BYTES, body_schema, read_capped, read_model
from gateway.web.json_response import FastJSONResponse, RawJSONResponse
from gateway.web.observability import (
    REQUEST_ID_HEADER,
    Metrics,
    RequestContext,
    RequestContextMiddleware,
    configure_logging,
)
from gateway.web.problems import (
    MEDIA_TYPE,
    PROBLEM_BASE,
    Problem,
    ProblemDetails,
    install_problem_handlers,
    problem_response,
    problem_responses,
    problem_type,
    with_problems,
)
from gateway.web.request_head import BoundedHeadProtocol, SingletonHeadersMiddleware

__all__ = [
    "MEDIA_TYPE",
    "PRESENTATION_MAX_BYTES",
    "PROBLEM_BASE",
    "REPLAY_HEADER",
    "REQUEST_ID_HEADER",
    "BodySizeLimitMiddleware",
    "BodyTooLarge",
    "BoundedHeadProtocol",
    "DirectApp",
    "DirectRoutes",
    "FastJSONResponse",
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "IdempotentReplay",
    "Metrics",
    "Problem",
    "ProblemDetails",
    "RawJSONResponse",
    "RequestContext",
    "RequestContextMiddleware",
    "SingletonHeadersMiddleware",
    "StoredResponse",
    "body_schema",
    "configure_logging",
    "credential_problem",
    "idempotent",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
    "problem_type",
    "read_capped",
    "read_model",
    "rule_problem",
    "verification_problem",
    "with_problems",
]
