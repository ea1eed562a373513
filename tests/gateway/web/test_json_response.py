"""The orjson-rendered response says exactly what Starlette's renderer says, and falls back where orjson cannot."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from gateway.web import FastJSONResponse, RawJSONResponse

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(documents)
def test_the_body_is_the_same_document(document: Any) -> None:
    fast = FastJSONResponse(document)
    assert json.loads(bytes(fast.body)) == json.loads(bytes(JSONResponse(document).body))
    assert fast.headers["content-type"] == "application/json"


def test_an_integer_beyond_64_bits_is_rendered_exactly() -> None:
    assert bytes(FastJSONResponse({"n": 2**70}).body) == b'{"n":1180591620717411303424}'


@given(documents, st.integers(min_value=0, max_value=2**63))
def test_a_raw_headed_response_is_the_mapping_headed_one(document: Any, index: int) -> None:
    raw = RawJSONResponse(document, ((b"consentry-ledger-index", b"%d" % index), (b"cache-control", b"no-store")))
    mapped = FastJSONResponse(document, headers={"Consentry-Ledger-Index": str(index), "Cache-Control": "no-store"})
    assert (raw.status_code, raw.raw_headers, bytes(raw.body)) == (
        mapped.status_code,
        mapped.raw_headers,
        bytes(mapped.body),
    )
    assert raw.background is None
