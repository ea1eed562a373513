"""Field-map selectors: RFC 6901 JSON Pointers and a small, safe subset of RFC 9535 JSONPath.

A field map names parts of an upstream's JSON response. Operators write either

- an RFC 6901 JSON Pointer: ``""`` (the root), ``/location/lat``, ``/trips/0/km`` (``~0`` is ``~``, ``~1`` is ``/``);
- or an RFC 9535 JSONPath from this subset: ``$``, ``.name``, ``['name']``, ``[0]``, ``[-1]``, ``[*]``, ``.*``,
  and the descendant forms ``..name``, ``..*``, ``..['name']``, ``..[0]``.

Filters (``?``), slices, unions and function extensions are refused on purpose: a field map is a security
boundary, and a selector whose reach an operator cannot see at a glance is a leak waiting to happen.

Both syntaxes compile to the same steps (RFC 9535's segments: a child or descendant segment holding one
selector), so the filter walks the document once for every selector at the same time and a descendant
segment costs no more than the document's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Selector",
    "SelectorSyntaxError",
    "Step",
    "format_pointer",
    "parse_selector",
]

StepKind = Literal["name", "index", "wildcard", "token"]

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_INT = re.compile(r"0|-?[1-9][0-9]*")
# RFC 9535 §2.5.1.1 member-name-shorthand: ALPHA / "_" / non-ASCII first, then also DIGIT.
_NAME_FIRST = re.compile(r"[A-Za-z_\u0080-\U0010ffff]")
_NAME_REST = re.compile(r"[A-Za-z0-9_\u0080-\U0010ffff]*")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "/": "/", "\\": "\\", "'": "'", '"': '"'}
# I-JSON (RFC 7493) integers; an index beyond this is a typo, not a real array position.
_MAX_INDEX = 2**53 - 1


class SelectorSyntaxError(ValueError):
    """A selector that is neither a valid JSON Pointer nor a JSONPath of the supported subset."""

    def __init__(self, selector: str, position: int, reason: str) -> None:
        self.selector = selector
        self.position = position
        self.reason = reason
        super().__init__(f"invalid selector {selector!r} at position {position}: {reason}")


@dataclass(frozen=True, slots=True)
class Step:
    """One segment: which children of the current node it selects, and whether it also searches below them.

    ``token`` is an RFC 6901 reference token: a member name in an object, an index in an array when it is
    written as a canonical non-negative integer (RFC 6901 §4).
    """

    kind: StepKind
    value: str | int | None = None
    descendant: bool = False

    def selects(self, key: str | int, size: int) -> bool:
        """Whether the child at ``key`` (a member name, or an index in an array of ``size``) is selected."""
        if self.kind == "wildcard":
            return True
        if self.kind == "name":
            return isinstance(key, str) and key == self.value
        if self.kind == "index":
            if not isinstance(key, int) or not isinstance(self.value, int):
                return False
            wanted = self.value if self.value >= 0 else size + self.value
            return key == wanted
        if isinstance(key, str):
            return key == self.value
        return isinstance(self.value, str) and _ARRAY_INDEX.fullmatch(self.value) is not None and int(self.value) == key


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector: its source text (kept for messages) and its steps from the root."""

    text: str
    steps: tuple[Step, ...]


def parse_selector(text: str) -> Selector:
    """Parse a JSON Pointer (``""`` or starting with ``/``) or a JSONPath (starting with ``$``)."""
    if text.startswith("$"):
        return Selector(text, _parse_jsonpath(text))
    if text == "" or text.startswith("/"):
        return Selector(text, _parse_pointer(text))
    raise SelectorSyntaxError(
        text, 0, "a selector is an RFC 6901 JSON Pointer ('/a/b', '' for the root) or a JSONPath ('$.a.b')"
    )


def format_pointer(path: tuple[str | int, ...]) -> str:
    """The RFC 6901 JSON Pointer of a location, escaping ``~`` and ``/`` in member names (§3)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _parse_pointer(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    position = 1
    for raw in text.split("/")[1:]:
        tilde = raw.find("~")
        while tilde != -1:
            if raw[tilde + 1 : tilde + 2] not in ("0", "1"):
                raise SelectorSyntaxError(text, position + tilde, "'~' must be followed by '0' or '1' (RFC 6901 §3)")
            tilde = raw.find("~", tilde + 2)
        steps.append(Step("token", raw.replace("~1", "/").replace("~0", "~")))
        position += len(raw) + 1
    return tuple(steps)


def _parse_jsonpath(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    i = 1
    while i < len(text):
        descendant = text.startswith("..", i)
        if descendant:
            i += 2
            if i >= len(text):
                raise SelectorSyntaxError(text, i, "'..' must be followed by a name, '*' or a bracketed selector")
            if text[i] == "[":
                step, i = _parse_bracket(text, i, descendant=True)
            else:
                step, i = _parse_dotted(text, i, descendant=True)
        elif text[i] == ".":
            step, i = _parse_dotted(text, i + 1, descendant=False)
        elif text[i] == "[":
            step, i = _parse_bracket(text, i, descendant=False)
        else:
            raise SelectorSyntaxError(text, i, f"expected '.', '..' or '[' but found {text[i]!r}")
        steps.append(step)
    return tuple(steps)


def _parse_dotted(text: str, i: int, *, descendant: bool) -> tuple[Step, int]:
    if i < len(text) and text[i] == "*":
        return Step("wildcard", None, descendant), i + 1
    if i >= len(text) or not _NAME_FIRST.match(text, i):
        found = repr(text[i]) if i < len(text) else "the end"
        raise SelectorSyntaxError(text, i, f"expected a member name or '*' but found {found} (quote it: ['…'])")
    match = _NAME_REST.match(text, i + 1)
    end = match.end() if match else i + 1
    return Step("name", text[i:end], descendant), end


def _parse_bracket(text: str, i: int, *, descendant: bool) -> tuple[Step, int]:
    start = i
    i += 1
    if i >= len(text):
        raise SelectorSyntaxError(text, start, "unterminated '['")
    char = text[i]
    if char == "*":
        step, i = Step("wildcard", None, descendant), i + 1
    elif char in "'\"":
        name, i = _parse_quoted(text, i)
        step = Step("name", name, descendant)
    elif char == "-" or char.isdigit():
        match = re.compile(r"-?[0-9]+").match(text, i)
        literal = match.group() if match else char
        if not _INT.fullmatch(literal):
            raise SelectorSyntaxError(text, i, f"{literal!r} is not a valid index (no leading zeros, no '-0')")
        if abs(int(literal)) > _MAX_INDEX:
            raise SelectorSyntaxError(text, i, f"index {literal} is out of the I-JSON range")
        step, i = Step("index", int(literal), descendant), i + len(literal)
    elif char == "?":
        raise SelectorSyntaxError(text, i, "filter selectors ('?') are not supported in field maps")
    else:
        raise SelectorSyntaxError(text, i, f"expected '*', an index or a quoted name but found {char!r}")
    if i >= len(text):
        raise SelectorSyntaxError(text, start, "unterminated '['")
    if text[i] == ":":
        raise SelectorSyntaxError(text, i, "array slices are not supported in field maps")
    if text[i] == ",":
        raise SelectorSyntaxError(text, i, "unions (',') are not supported in field maps; write one mapping each")
    if text[i] != "]":
        raise SelectorSyntaxError(text, i, f"expected ']' but found {text[i]!r}")
    return step, i + 1


def _parse_quoted(text: str, i: int) -> tuple[str, int]:
    quote, opening = text[i], i
    out: list[str] = []
    i += 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            escape = text[i + 1 : i + 2]
            if escape == "u":
                digits = text[i + 2 : i + 6]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    raise SelectorSyntaxError(text, i, "'\\u' must be followed by four hex digits")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if escape not in _ESCAPES or (escape in "'\"" and escape != quote):
                raise SelectorSyntaxError(text, i, f"invalid escape '\\{escape}'")
            out.append(_ESCAPES[escape])
            i += 2
            continue
        if ord(char) < 0x20:
            raise SelectorSyntaxError(text, i, "control characters must be escaped")
        out.append(char)
        i += 1
    raise SelectorSyntaxError(text, opening, f"unterminated string (missing {quote})")
