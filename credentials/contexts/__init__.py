"""Bundled JSON-LD contexts, pinned by SHA-256 in INDEX.json and checked when loaded.

The loader is the only way pyld reaches a context: any URL not listed here is refused, so nothing is
fetched at run time and a swapped file on disk is detected instead of silently changing what a
signature means.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from credentials.errors import ContextError

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
CONSENTRY_V1 = "https://consentry.dev/ns/consent/v1"


@cache
def _index() -> dict[str, dict[str, Any]]:
    raw = resources.files(__package__).joinpath("INDEX.json").read_bytes()
    index: dict[str, dict[str, Any]] = json.loads(raw)
    return index


def bundled_urls() -> frozenset[str]:
    return frozenset(_index())


def bundled_bytes(url: str) -> bytes:
    """The exact bytes of a bundled context, checked against its pinned SHA-256 (what a digest is taken over)."""
    entry = _index().get(url)
    if entry is None:
        raise ContextError(f"context {url!r} is not bundled; remote contexts are never loaded")
    data = resources.files(__package__).joinpath(entry["file"]).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise ContextError(f"bundled context {url} has SHA-256 {digest}, pinned {entry['sha256']}")
    return data


@cache
def _load_verified(url: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(bundled_bytes(url))
    return document


def load_context(url: str) -> dict[str, Any]:
    """A private copy of a verified bundled context (callers may mutate what they get)."""
    return copy.deepcopy(_load_verified(url))


def document_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader that serves bundled contexts only.

    The `static` tag lets pyld keep the processed context; that is only sound because every context
    served here is immutable and pinned by hash.
    """
    return {"contextUrl": None, "documentUrl": url, "document": load_context(url), "tag": "static"}
