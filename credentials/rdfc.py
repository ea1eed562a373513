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
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pyld import jsonld
from pyld.canon import URDNA2015
from pyld.context_resolver import ContextResolver
from pyld.identifier_issuer import IdentifierIssuer

from credentials.contexts import document_loader
from credentials.errors import CanonicalizationError, DataLossError, LimitExceededError


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
        "contextResolver": ContextResolver(_CONTEXT_CACHE, document_loader),
    }


class _BoundedURDNA2015(URDNA2015):  # type: ignore[misc]
    """URDNA2015 that counts Hash N-Degree Quads calls, the step that explodes on symmetric graphs."""

    def __init__(self, max_calls: int, deadline: float) -> None:
        super().__init__()
        self._remaining = max_calls
        self._deadline = deadline

    def hash_n_degree_quads(self, id_: str, issuer: Any) -> Any:
        self._remaining -= 1
        if self._remaining < 0:
            raise LimitExceededError("canonicalization work limit exceeded (Hash N-Degree Quads calls)")
        if time.monotonic() > self._deadline:
            raise LimitExceededError("canonicalization time limit exceeded")
        return super().hash_n_degree_quads(id_, issuer)


class _MemoizingProcessor(jsonld.JsonLdProcessor):  # type: ignore[misc]
    """pyld processor that remembers processed contexts across documents.

    pyld caches a processed context by the identity (`_uuid`) of the active context it was applied to,
    but type-scoped contexts are applied to a fresh clone each time, so the cache misses and every
    receipt re-processes the VC, status and consent contexts. The memo key is that uuid plus the
    *content* of the local context (JSON with sorted keys) and the flags: never object identity, so a
    caller mutating a dict between calls cannot get a stale answer. Processed contexts are treated as
    immutable by pyld itself, which already shares them through its own caches.
    """

    def _process_context(
        self,
        active_ctx: Any,
        local_ctx: Any,
        options: Any,
        override_protected: bool = False,
        propagate: bool = True,
        validate_scoped: bool = True,
        cycles: Any = None,
    ) -> Any:
        uuid_ = active_ctx.get("_uuid")
        if uuid_ is None or cycles:
            return super()._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
            )
        try:
            content = json.dumps(local_ctx, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return super()._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
            )
        key = (uuid_, content, override_protected, propagate, validate_scoped)
        cached = _PROCESSED.get(key)
        if cached is None:
            cached = super()._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
            )
            _PROCESSED[key] = cached
        return cached


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


def _is_absolute(iri: str) -> bool:
    return ":" in iri and not iri.startswith(":")


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
    processor = _MemoizingProcessor(on_property_dropped=dropped.append)
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
    # The node-map steps of pyld's to_rdf, minus its second expansion of already expanded input.
    processor = jsonld.JsonLdProcessor()
    issuer = IdentifierIssuer("_:b")
    options = {"produceGeneralizedRdf": False, "processingMode": "json-ld-1.1", "rdfDirection": None}
    try:
        node_map: dict[str, Any] = {"@default": {}}
        processor._create_node_map(expanded, node_map, "@default", issuer)
        dataset = {
            name: processor._graph_to_rdf(graph, issuer, options)
            for name, graph in sorted(node_map.items())
            if name == "@default" or _is_absolute(name)
        }
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
    canon = _BoundedURDNA2015(limits.max_n_degree_calls, time.monotonic() + limits.max_seconds)
    result: str = canon.main(dataset, {"algorithm": "URDNA2015", "format": "application/n-quads"})
    return result


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
