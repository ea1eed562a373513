"""RFC 9457 problem details: the one shape every error of the gateway takes.

Every failure a client can cause or observe leaves through this module, so the `type` URIs stay stable
(`https://consentry.dev/problems/<kind>`) and nothing internal (a stack trace, a SQL statement, an echoed
secret) ever reaches a response body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://consentry.dev/problems/"
MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger("gateway.problems")

# The kind used for a bare HTTP status raised by the framework (routing, method, media type).
_STATUS_KINDS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    500: "internal",
    503: "unavailable",
}


class ProblemDetails(BaseModel):
    """RFC 9457 §3 members; extension members (`errors`, `request_id`, OAuth `error`) may follow."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://consentry.dev/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No such record.",
                    "instance": "/v1/customers/me/consents/123",
                    "request_id": "01J9Z0C5Y8QW4M9V6K3T2R1P0N",
                }
            ]
        },
    )

    type: str = Field(description="Stable URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind; the same for every occurrence.")
    status: int = Field(description="The HTTP status code of this response.")
    detail: str | None = Field(None, description="What went wrong in this occurrence.")
    instance: str | None = Field(None, description="The request path this problem occurred on.")


class Problem(Exception):
    """Raise anywhere in a request to answer with problem+json.

    `kind` becomes the last segment of the `type` URI; keep it stable, clients switch on it.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or kind)
        self.status = status
        self.kind = kind
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_type(kind: str) -> str:
    return PROBLEM_BASE + kind


def problem_response(
    request: Request | None,
    status: int,
    kind: str,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Build the problem+json response; also used by middleware that answers before routing."""
    body: dict[str, Any] = {
        "type": problem_type(kind),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if extensions:
        body.update(extensions)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the problem+json answers of a route."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "model": ProblemDetails,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for status in statuses
    }


def _safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location, message and error type only: the offending input may be a password or a token."""
    return [
        {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request, exc.status, exc.kind, exc.detail, title=exc.title, headers=exc.headers, extensions=exc.extensions
    )


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        (".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


def _allowed_methods(request: Request, named: str | None) -> str | None:
    """Every method the app serves at this path. Starlette names only the methods of the first route whose path
    matched, but one path is often several routes (one per method); the OpenAPI document lists them all."""
    methods = {m.strip().upper() for m in (named or "").split(",") if m.strip()}
    for template, item in request.app.openapi().get("paths", {}).items():
        if _template_pattern(template).match(request.url.path):
            methods |= {m.upper() for m in item if m in _HTTP_METHODS}
    return ", ".join(sorted(methods)) if methods else None


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _STATUS_KINDS.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request, headers.get("Allow"))
        if allowed:
            headers["Allow"] = allowed
    return problem_response(request, exc.status_code, kind, detail, headers=headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        422,
        "validation",
        "The request does not match the schema.",
        title="Invalid request",
        extensions={"errors": _safe_validation_errors(exc)},
    )


# How long a client should wait before retrying a request the storage refused (full disk, lost database).
STORAGE_RETRY_AFTER_SECONDS = 5


def is_storage_failure(exc: BaseException) -> bool:
    """The database could not do its part (disk full, I/O error, locked, connection lost): not a bug of ours,
    and nothing was acknowledged, so the honest answer is 503 and a retry, never 500."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, (OperationalError, InterfaceError))


def storage_problem(request: Request | None, exc: BaseException) -> JSONResponse:
    log.error("storage_unavailable", error_type=type(exc).__name__)
    return problem_response(
        request,
        503,
        "storage-unavailable",
        "The data store cannot complete this request right now; nothing was changed. Try again later.",
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
    )


async def _on_storage_failure(request: Request, exc: Exception) -> JSONResponse:
    return storage_problem(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A 5xx is a bug: log it with its traceback server-side, tell the client only the request id."""
    if is_storage_failure(exc):  # raised outside the routes (a middleware's own write)
        request_id = getattr(request.state, "request_id", None)
        response = storage_problem(request, exc)
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    # This answer is sent by the outermost middleware, outside the one that adds the request id header.
    request_id = getattr(request.state, "request_id", None)
    return problem_response(
        request,
        500,
        "internal",
        "An internal error occurred; quote the request id.",
        headers={"X-Request-ID": request_id} if request_id else None,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(OperationalError, _on_storage_failure)
    app.add_exception_handler(InterfaceError, _on_storage_failure)
    app.add_exception_handler(Exception, _on_unexpected)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
# Answers any operation may give whatever its route declares: a malformed JSON body or a repeated header (400),
# a body over the limit (413, operations with a body) and storage that cannot answer (503, all but liveness).
_ANYWHERE_DESCRIPTIONS = {
    400: "Malformed request (a body that is not JSON, a repeated header).",
    413: "The body is over the size limit.",
    503: "A dependency (database, ledger) cannot answer right now; retry after `Retry-After`.",
}


def document_problem_answers(schema: dict[str, Any], *, without_dependencies: frozenset[str]) -> None:
    """Make the OpenAPI document say what every error answer is: problem+json, with the statuses every operation
    can give. FastAPI documents its own 422 and any bare `responses={404: …}` as `application/json`, which is
    not what a client receives. `without_dependencies` names the paths that touch no storage (liveness)."""
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            anywhere = [400]
            if "requestBody" in operation:
                anywhere.append(413)
            if path not in without_dependencies:
                anywhere.append(503)
            for status in anywhere:
                responses.setdefault(str(status), {"description": _ANYWHERE_DESCRIPTIONS[status]})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400 and MEDIA_TYPE not in response.get("content", {}):
                    kept = {k: v for k, v in response.get("content", {}).items() if k != "application/json"}
                    response["content"] = {**kept, **problem}


def with_problems(documented: dict[int | str, dict[str, Any]], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's documented success responses plus the problem+json answers it can give."""
    return {**documented, **problem_responses(*statuses)}
