"""RDF Dataset Canonicalization (RDFC-1.0 = URDNA2015) of JSON-LD through pyld, made safe to sign.

pyld's defaults are wrong for signing: its `normalize` defaults to URGNA2012 and to a base IRI taken
from the input, and its expansion silently drops terms and types that do not expand to absolute IRIs.
We pass URDNA2015 and `base=None` explicitly, expand once with a drop handler, walk the expanded form
for relative IRIs, and refuse the document when anything would vanish. Crafted blank-node graphs can
drive URDNA2015 into exponential work, so input size, quad count, hash-n-degree calls and wall time
are capped.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pyld import jsonld
from pyld.identifier_issuer import IdentifierIssuer

from credentials.contexts import document_loader
from credentials.errors import CanonicalizationError, DataLossError, LimitExceededError
from credentials.pyld_shim import BoundedURDNA2015, MemoizingProcessor, context_resolver


@dataclass(frozen=True)
class Limits:
    """Caps on what a single canonicalization may cost; exceeding one is an error, never a slow answer."""

    max_document_bytes: int = 256 * 1024
    max_depth: int = 32
    max_quads: int = 5_000
    max_blank_nodes: int = 1_000
    max_n_degree_calls: int = 2_000
    max_seconds: float = 2.0


DEFAULT_LIMITS = Limits()

# What pyld raises from its own code, instead of a JsonLdError, on some malformed input.
_PYLD_INTERNAL_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


class _LockedLRU:
    """A small thread-safe LRU map: the gateway verifies from several threads at once.

    pyld's ContextResolver only calls `get` and item assignment on its shared cache.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)


# Our own cache of processed contexts, never pyld's process-wide one: another caller's loader could
# have put a different document under the same URL there.
_CONTEXT_CACHE = _LockedLRU(maxsize=64)
_PROCESSED = _LockedLRU(maxsize=512)


def _options() -> dict[str, Any]:
    return {
        "base": None,
        "documentLoader": document_loader,
        "contextResolver": context_resolver(_CONTEXT_CACHE, document_loader),
    }


class _AlreadyExpanded(jsonld.JsonLdProcessor):  # type: ignore[misc]
    """`to_rdf` on input that `expand_strict` already expanded (and checked): expanding it again would only cost."""

    def expand(self, input_: Any, options: Any) -> Any:
        return input_


def check_size(document: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Reject oversized or deeply nested input before any JSON-LD processing touches it."""
    try:
        size = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise CanonicalizationError(f"document is not plain JSON: {exc}") from None
    if size > limits.max_document_bytes:
        raise LimitExceededError(f"document is {size} bytes; the limit is {limits.max_document_bytes}")
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise LimitExceededError(f"document nesting exceeds depth {limits.max_depth}")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


# pyld's own test for an absolute IRI (or a blank node): a subject, object or graph name failing it is silently left
# out of the RDF, so anything failing it is refused before conversion.
_ABSOLUTE_IRI = re.compile(r"([A-Za-z][A-Za-z0-9+-.]*|_):\S*")


def _is_absolute(iri: str) -> bool:
    return _ABSOLUTE_IRI.fullmatch(iri) is not None


def _check_expanded(node: Any, path: str) -> None:
    """Every @id and @type left after expansion must be absolute, or the quad carrying it is lost."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_expanded(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    if "@value" in node:
        datatype = node.get("@type")
        if isinstance(datatype, str) and datatype != "@json" and not _is_absolute(datatype):
            raise DataLossError(f"{path}: datatype {datatype!r} does not expand to an absolute IRI")
        return
    node_id = node.get("@id")
    if isinstance(node_id, str) and not (node_id.startswith("_:") or _is_absolute(node_id)):
        raise DataLossError(f"{path}: identifier {node_id!r} is not an absolute IRI")
    for type_ in node.get("@type", []):
        if not (isinstance(type_, str) and (type_.startswith("_:") or _is_absolute(type_))):
            raise DataLossError(f"{path}: type {type_!r} is not defined by any context")
    for key, value in node.items():
        if key in ("@id", "@type"):
            continue
        if key == "@json" or (key.startswith("@") and key not in ("@graph", "@list", "@set", "@included", "@reverse")):
            continue
        _check_expanded(value, f"{path}/{key}")


def expand_strict(document: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Expand with bundled contexts only; raise DataLossError instead of dropping anything."""
    check_size(document, limits)
    dropped: list[str | None] = []
    processor = MemoizingProcessor(_PROCESSED, on_property_dropped=dropped.append)
    try:
        expanded: list[Any] = processor.expand(document, _options())
    except jsonld.JsonLdError as exc:
        raise CanonicalizationError(f"JSON-LD expansion failed: {_root_cause(exc)}") from None
    except _PYLD_INTERNAL_ERRORS as exc:
        # pyld assumes well-formed contexts in places (e.g. `{"@vocab": null}` deletes a key that is not there);
        # such input is malformed, and saying so beats an unhandled exception.
        raise CanonicalizationError(f"JSON-LD expansion failed on malformed input: {type(exc).__name__}") from None
    if dropped:
        raise DataLossError(f"terms not defined by any context would be dropped: {sorted(map(str, dropped))}")
    _check_expanded(expanded, "$")
    return expanded


def canonicalize(document: dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> str:
    """Canonical N-Quads (RDFC-1.0) of a JSON-LD document, or an error naming what would be lost."""
    expanded = expand_strict(document, limits)
    return canonicalize_expanded(expanded, limits)


def canonicalize_expanded(expanded: list[Any], limits: Limits = DEFAULT_LIMITS) -> str:
    options = {
        "base": None,
        "produceGeneralizedRdf": False,
        "processingMode": "json-ld-1.1",
        "rdfDirection": None,
        "identifierIssuer": IdentifierIssuer("_:b"),
    }
    try:
        dataset: dict[str, Any] = _AlreadyExpanded().to_rdf(expanded, {**_options(), **options})
    except jsonld.JsonLdError as exc:
        raise CanonicalizationError(f"conversion to RDF failed: {_root_cause(exc)}") from None
    except _PYLD_INTERNAL_ERRORS as exc:
        raise CanonicalizationError(f"conversion to RDF failed on malformed input: {type(exc).__name__}") from None
    quads = sum(len(triples) for triples in dataset.values())
    if quads > limits.max_quads:
        raise LimitExceededError(f"document has {quads} quads; the limit is {limits.max_quads}")
    blank = {
        t[pos]["value"]
        for triples in dataset.values()
        for t in triples
        for pos in ("subject", "object")
        if t[pos]["type"] == "blank node"
    }
    if len(blank) > limits.max_blank_nodes:
        raise LimitExceededError(f"document has {len(blank)} blank nodes; the limit is {limits.max_blank_nodes}")
    canon = BoundedURDNA2015(limits.max_n_degree_calls, time.monotonic() + limits.max_seconds)
    return canon.canonical_nquads(dataset)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
