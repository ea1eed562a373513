"""A JSON response rendered by orjson, for the proxy's hot path.

Starlette's `JSONResponse` renders with `json.dumps`; orjson writes the same compact UTF-8 JSON several times
faster. What orjson cannot render exactly (an integer beyond 64 bits, a non-string key) falls back to Starlette's
renderer, so the answer is never altered, only produced sooner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["FastJSONResponse", "RawJSONResponse"]


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError: left to the standard renderer, which says why or renders it
            return super().render(content)


class RawJSONResponse(FastJSONResponse):
    """A 200 JSON response whose other headers come as raw (lower-case name, value) pairs: its head is the one
    `FastJSONResponse` would build, without walking, lower-casing and encoding a mapping on every answer."""

    def __init__(self, content: Any, raw_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.status_code = 200
        self.background = None
        body = self.body = self.render(content)
        self.raw_headers = [
            *raw_headers,
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]
