"""Everything we take from pyld below its documented API, in one place, checked on import.

pyld's documented API (`expand`, `to_rdf`, `normalize`) has no hook for three things signing needs:

- a cache of processed contexts per document shape: pyld keys its own by the identity of the active context,
  and type-scoped contexts are applied to a fresh clone every time, so every receipt re-processes the VC, status
  and consent contexts (~4x the cost of an expansion). `MemoizingProcessor` overrides the private
  `JsonLdProcessor._process_context`;
- a context resolver over our own cache, never pyld's process-wide one (another caller's loader could have put a
  different document under the same URL there): the `contextResolver` option is documented "internal use only";
- a work limit inside URDNA2015, whose Hash N-Degree Quads step is exponential on crafted symmetric graphs:
  `BoundedURDNA2015` overrides `hash_n_degree_quads` of the undocumented `pyld.canon.URDNA2015`.

They are tested against pyld `SUPPORTED` only, which pyproject.toml pins. On import this module checks the
installed version and the signature of every method it overrides or calls; if either changed it refuses to load
(`PyldChangedError`), so a new pyld stops credentials loudly instead of canonicalizing wrongly.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, Protocol

from pyld import jsonld
from pyld.canon import URDNA2015
from pyld.context_resolver import ContextResolver

from credentials.errors import LimitExceededError

SUPPORTED = ((3, 3), (3, 4))  # pyld >= 3.3, < 3.4 (the lower bound included, the upper excluded)

# The parameters of each pyld method this module overrides or calls, as in the supported versions.
EXPECTED_SIGNATURES: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "JsonLdProcessor._process_context": (
        jsonld.JsonLdProcessor._process_context,
        ("self", "active_ctx", "local_ctx", "options", "override_protected", "propagate", "validate_scoped", "cycles"),
    ),
    "URDNA2015.__init__": (URDNA2015.__init__, ("self",)),
    "URDNA2015.hash_n_degree_quads": (URDNA2015.hash_n_degree_quads, ("self", "id_", "issuer")),
    "URDNA2015.main": (URDNA2015.main, ("self", "dataset", "options")),
    "ContextResolver.__init__": (
        ContextResolver.__init__,
        ("self", "shared_cache", "document_loader", "max_context_urls"),
    ),
}


class PyldChangedError(ImportError):
    """The installed pyld is not one this shim was written for."""


def _check_pyld() -> None:
    version = metadata.version("pyld")
    parts = tuple(int(part) for part in version.split(".")[:2])
    low, high = SUPPORTED
    if not low <= parts < high:
        raise PyldChangedError(
            f"pyld {version} is installed; credentials/pyld_shim.py supports pyld >= {'.'.join(map(str, low))}, "
            f"< {'.'.join(map(str, high))} (see its docstring before widening the range)"
        )
    for name, (function, expected) in EXPECTED_SIGNATURES.items():
        found = tuple(inspect.signature(function).parameters)
        if found != expected:
            raise PyldChangedError(f"pyld {version} changed {name}{found}; credentials/pyld_shim.py expects {expected}")


_check_pyld()


class ContextCache(Protocol):
    """The two operations pyld's ContextResolver performs on its shared cache."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def __setitem__(self, key: Any, value: Any) -> None: ...


def context_resolver(cache: ContextCache, document_loader: Callable[..., Any]) -> Any:
    """A resolver of remote contexts that caches into `cache` (pyld's `contextResolver` option)."""
    return ContextResolver(cache, document_loader)


class MemoizingProcessor(jsonld.JsonLdProcessor):  # type: ignore[misc]
    """pyld processor that remembers processed contexts across documents, in `memo`.

    The memo key is the active context's uuid plus the *content* of the local context (JSON with sorted keys) and
    the flags: never object identity, so a caller mutating a dict between calls cannot get a stale answer.
    Processed contexts are treated as immutable by pyld itself, which already shares them through its own caches.
    """

    def __init__(self, memo: ContextCache, on_property_dropped: Callable[[str | None], Any]) -> None:
        super().__init__(on_property_dropped=on_property_dropped)
        self._memo = memo

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
        cached = self._memo.get(key)
        if cached is None:
            cached = super()._process_context(
                active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles
            )
            self._memo[key] = cached
        return cached


class BoundedURDNA2015(URDNA2015):  # type: ignore[misc]
    """URDNA2015 that counts Hash N-Degree Quads calls, the step that explodes on symmetric graphs, and watches
    the clock there."""

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

    def canonical_nquads(self, dataset: dict[str, Any]) -> str:
        result: str = self.main(dataset, {"algorithm": "URDNA2015", "format": "application/n-quads"})
        return result
