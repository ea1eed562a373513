"""Field-map selectors: RFC 6901 JSON Pointer and the RFC 9535 JSONPath subset, with precise syntax errors."""

from __future__ import annotations

import pytest

from gateway.upstream import SelectorSyntaxError, format_pointer, parse_selector
from gateway.upstream.selectors import Step

# RFC 6901 §5: the example document and what each pointer evaluates to.
RFC6901_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}
RFC6901_CASES = [
    ("", RFC6901_DOC),
    ("/foo", ["bar", "baz"]),
    ("/foo/0", "bar"),
    ("/", 0),
    ("/a~1b", 1),
    ("/c%d", 2),
    ("/e^f", 3),
    ("/g|h", 4),
    ("/i\\j", 5),
    ('/k"l', 6),
    ("/ ", 7),
    ("/m~0n", 8),
]


def evaluate(document: object, text: str) -> list[object]:
    """Naive reference evaluation of a parsed selector, for checking the parser against RFC examples."""
    nodes = [document]
    for step in parse_selector(text).steps:
        out: list[object] = []
        for node in nodes:
            out.extend(_apply(node, step))
        nodes = out
    return nodes


def _apply(node: object, step: Step) -> list[object]:
    children: list[tuple[str | int, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    size = len(children)
    out = [child for key, child in children if step.selects(key, size)]
    if step.descendant:
        for _, child in children:
            out.extend(_apply(child, step))
    return out


@pytest.mark.parametrize(("pointer", "expected"), RFC6901_CASES)
def test_rfc6901_section5_examples(pointer: str, expected: object) -> None:
    assert evaluate(RFC6901_DOC, pointer) == [expected]


@pytest.mark.parametrize(
    ("pointer", "path"), [("/a~1b", ("a/b",)), ("/m~0n", ("m~n",)), ("/~01", ("~1",)), ("/foo/0", ("foo", 0))]
)
def test_format_pointer_escapes_per_rfc6901_section3(pointer: str, path: tuple[str | int, ...]) -> None:
    assert format_pointer(path) == pointer


def test_pointer_token_is_an_index_only_in_canonical_form() -> None:
    """RFC 6901 §4: array indices have no leading zeros; '-' names the nonexistent member after the last."""
    assert evaluate({"a": ["x", "y"]}, "/a/1") == ["y"]
    assert evaluate({"a": ["x", "y"]}, "/a/01") == []
    assert evaluate({"a": ["x", "y"]}, "/a/-") == []
    assert evaluate({"a": {"01": "member"}}, "/a/01") == ["member"]


# RFC 9535 §1.5 / Table 3 bookstore, restricted to the selectors this subset supports.
STORE = {
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "price": 12.99},
            {"category": "fiction", "author": "Herman Melville", "price": 8.99},
            {"category": "fiction", "author": "J. R. R. Tolkien", "price": 22.99},
        ],
        "bicycle": {"color": "red", "price": 399},
    }
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]),
        ("$..author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]),
        ("$.store..price", [399, 8.95, 12.99, 8.99, 22.99]),
        ("$..book[2].author", ["Herman Melville"]),
        ("$..book[-1].author", ["J. R. R. Tolkien"]),
        ("$['store']['bicycle'][\"color\"]", ["red"]),
        ("$.store.bicycle.*", ["red", 399]),
        ("$", [STORE]),
    ],
)
def test_rfc9535_table3_examples_within_the_subset(path: str, expected: list[object]) -> None:
    assert sorted(map(repr, evaluate(STORE, path))) == sorted(map(repr, expected))


def test_quoted_names_take_json_escapes() -> None:
    assert parse_selector("$['a\\'b']").steps == (Step("name", "a'b"),)
    assert parse_selector('$["\\u00e9"]').steps == (Step("name", "é"),)
    assert parse_selector("$.名前").steps == (Step("name", "名前"),)


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("name", 0, "JSON Pointer"),
        ("/a~2b", 2, "'~' must be followed by '0' or '1'"),
        ("/a~", 2, "'~' must be followed"),
        ("$.store[", 7, "unterminated '['"),
        ("$.store[0", 7, "unterminated '['"),
        ("$[01]", 2, "not a valid index"),
        ("$[-0]", 2, "not a valid index"),
        ("$[?@.price<10]", 2, "filter selectors"),
        ("$[0:2]", 3, "slices"),
        ("$[0,1]", 3, "unions"),
        ("$.1abc", 2, "expected a member name"),
        ("$..", 3, "'..' must be followed"),
        ("$x", 1, "expected '.', '..' or '['"),
        ("$['abc]", 2, "unterminated string"),
        ("$['a\\qb']", 4, "invalid escape"),
        ("$['a\\\"b']", 4, "invalid escape"),
        ('$["\\u12"]', 3, "four hex digits"),
        ("$[ 0]", 2, "expected '*', an index or a quoted name"),
        ("$[99999999999999999]", 2, "I-JSON range"),
    ],
)
def test_syntax_errors_name_the_position_and_the_rule(text: str, position: int, reason: str) -> None:
    with pytest.raises(SelectorSyntaxError) as caught:
        parse_selector(text)
    assert caught.value.position == position
    assert reason in str(caught.value)
    assert repr(text) in str(caught.value)
