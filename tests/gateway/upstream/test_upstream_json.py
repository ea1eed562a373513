"""An upstream body parses to exactly what the standard parser reads from it, whichever parser ran."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.upstream import UpstreamResponseRefused
from gateway.upstream.client import UpstreamResponse

documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson would read those as floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


def _response(content: bytes) -> UpstreamResponse:
    return UpstreamResponse("cloud", 200, (("content-type", "application/json"),), content, 1)


@given(documents, st.booleans())
def test_the_parsed_document_is_the_standard_parsers(document: Any, ascii_only: bool) -> None:
    content = json.dumps(document, ensure_ascii=ascii_only).encode()
    assert _response(content).json() == json.loads(content)


def test_a_long_integer_keeps_every_digit() -> None:
    assert _response(b'{"account": 123456789012345678901234567890}').json() == {
        "account": 123456789012345678901234567890
    }


@pytest.mark.parametrize("content", [b'{"a": NaN}', b'"\\ud800"', b"{", b'{"a": 1} x'])
def test_what_is_not_strict_json_is_refused(content: bytes) -> None:
    with pytest.raises(UpstreamResponseRefused, match="malformed JSON"):
        _response(content).json()
