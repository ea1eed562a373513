"""The pyld shim: it supports exactly the pyld range pyproject.toml pins, refuses any other pyld or a changed
private method loudly, and what it computes equals what pyld's documented API computes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from pyld import jsonld

from credentials import pyld_shim
from credentials.contexts import document_loader
from credentials.rdfc import canonicalize
from tests.packaging.private_api import private_uses
from tests.packaging.project import ROOT, runtime_packages, runtime_requirements

V2 = "https://www.w3.org/ns/credentials/v2"


def _documents() -> list[dict[str, Any]]:
    subject = {"id": "did:example:alice", "name": "Alice"}
    return [
        {
            "@context": [V2, "https://consentry.dev/ns/consent/v1"],
            "id": "urn:uuid:0c0ffee0-0000-4000-8000-000000000000",
            "type": ["VerifiableCredential", "ConsentReceiptCredential"],
            "issuer": "did:web:consentry.example",
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:alice"},
        },
        {
            "@context": [V2, {"name": "https://schema.org/name"}],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": [
                {
                    "@context": [V2, {"name": "https://schema.org/name"}],
                    "type": ["VerifiableCredential"],
                    "issuer": "did:example:issuer",
                    "credentialSubject": [subject, {"name": "blank subject"}],
                }
            ],
        },
    ]


def test_the_supported_range_is_the_one_pyproject_pins() -> None:
    (pyld,) = [r for r in runtime_requirements() if r.name.lower() == "pyld"]
    low, high = pyld_shim.SUPPORTED
    assert pyld.specifier == SpecifierSet(f">={low[0]}.{low[1]},<{high[0]}.{high[1]}")


def test_the_installed_pyld_has_every_method_the_shim_relies_on() -> None:
    pyld_shim._check_pyld()


def test_a_changed_private_method_stops_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    def changed(self: Any, active_ctx: Any, local_ctx: Any, options: Any, *, new_flag: bool = False) -> None: ...

    entries: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = dict(pyld_shim.EXPECTED_SIGNATURES)
    entries["JsonLdProcessor._process_context"] = (changed, entries["JsonLdProcessor._process_context"][1])
    monkeypatch.setattr(pyld_shim, "EXPECTED_SIGNATURES", entries)
    with pytest.raises(pyld_shim.PyldChangedError, match=r"changed JsonLdProcessor\._process_context"):
        pyld_shim._check_pyld()


@pytest.mark.parametrize("version", ["3.2.0", "3.4.0", "4.0.0"])
def test_a_pyld_outside_the_range_stops_the_import(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(pyld_shim.metadata, "version", lambda name: version)
    with pytest.raises(pyld_shim.PyldChangedError, match=f"pyld {version} is installed"):
        pyld_shim._check_pyld()


def _public_options() -> dict[str, Any]:
    return {"base": None, "documentLoader": document_loader}


@pytest.mark.parametrize("document", _documents(), ids=["receipt", "presentation"])
def test_the_memoizing_processor_expands_as_pyld_does(document: dict[str, Any]) -> None:
    memo: dict[Any, Any] = {}
    processor = pyld_shim.MemoizingProcessor(memo, on_property_dropped=lambda term: None)
    first = processor.expand(document, _public_options())
    again = processor.expand(document, _public_options())
    assert first == again == jsonld.expand(document, _public_options())
    assert memo, "the memo was never consulted: pyld no longer calls _process_context"


@pytest.mark.parametrize("document", _documents(), ids=["receipt", "presentation"])
def test_canonical_form_equals_pyld_normalize(document: dict[str, Any]) -> None:
    """The bounded URDNA2015 and the conversion of expanded input give pyld's documented RDFC-1.0 answer."""
    options = {**_public_options(), "algorithm": "URDNA2015", "format": "application/n-quads"}
    public = jsonld.normalize(document, options)
    assert canonicalize(document) == public != ""


def test_the_work_limit_is_reached_through_the_override() -> None:
    """Two blank nodes that know each other look alike at first degree: URDNA2015 must take the N-degree step."""
    knows = "https://schema.org/knows"
    graph = [{"@id": "_:a", knows: {"@id": "_:b"}}, {"@id": "_:b", knows: {"@id": "_:a"}}]
    dataset = jsonld.to_rdf(graph, _public_options())
    assert pyld_shim.BoundedURDNA2015(max_calls=10, deadline=float("inf")).canonical_nquads(dataset)
    with pytest.raises(pyld_shim.LimitExceededError, match="Hash N-Degree Quads"):
        pyld_shim.BoundedURDNA2015(max_calls=0, deadline=float("inf")).canonical_nquads(dataset)


def test_only_the_shim_reaches_below_pyld_s_documented_api() -> None:
    shim = Path(pyld_shim.__file__)
    found = {
        str(p.relative_to(ROOT)): uses
        for package in runtime_packages()
        for p in sorted((ROOT / package).rglob("*.py"))
        if p != shim and (uses := private_uses(p, "pyld"))
    }
    assert not found
    assert private_uses(shim, "pyld"), "the shim's own uses are what the import-time check guards"
