"""Reading a JSON request body under a route's own size cap, before any of it is parsed.

Verification routes are public and their input drives canonicalization, so they accept far less than the
service-wide body limit; the cap is enforced while the body streams in, not after it has been buffered.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from gateway.web.problems import Problem

Model = TypeVar("Model", bound=BaseModel)
# A wallet's presentation (DID Authentication, SD-JWT): whoever reads one, API route or portal form, caps it here.
PRESENTATION_MAX_BYTES = 16 * 1024


def _too_large(max_bytes: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        f"The request body exceeds this route's limit of {max_bytes} bytes.",
        max_bytes=max_bytes,
    )


async def read_capped(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_model(request: Request, model: type[Model], max_bytes: int, *, invalid_status: int = 422) -> Model:
    """The body as `model`: 413 over the cap, 400 when it is not JSON, 422 (or `invalid_status`, e.g. the VC
    API's 400) when it does not fit the schema."""
    raw = await read_capped(request, max_bytes)
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Problem(400, "bad-request", f"The request body is not JSON: {type(exc).__name__}.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        raise Problem(
            invalid_status,
            "validation",
            "The request does not match the schema.",
            title="Invalid request",
            errors=errors,
        ) from None


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route reads itself (so FastAPI does not buffer it first).

    Nested models are inlined: a `#/$defs/...` reference would resolve against the OpenAPI document's root.
    """
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }
