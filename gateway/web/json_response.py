"""A JSON response rendered by orjson, for the proxy's hot path.

Starlette's `JSONResponse` renders with `json.dumps`; orjson writes the same compact UTF-8 JSON several times
faster. What orjson cannot render exactly (an integer beyond 64 bits, a non-string key) falls back to Starlette's
renderer, so the answer is never altered, only produced sooner.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["FastJSONResponse"]


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError: left to the standard renderer, which says why or renders it
            return super().render(content)
