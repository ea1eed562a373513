"""Signing only what the document says: pinned contexts, no silent data loss, bounded work, safe caching."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from credentials import (
    ContextError,
    DataLossError,
    IssuerKey,
    LimitExceededError,
    Limits,
    add_proof,
    bundled_urls,
    canonicalize,
    document_loader,
    verify_proof,
)
from credentials import contexts as contexts_module
from tests.credentials.cred_constants import ISSUER_DID

V2 = "https://www.w3.org/ns/credentials/v2"


def _credential(**extra: Any) -> dict[str, Any]:
    return {
        "@context": [V2, "https://consentry.dev/ns/consent/v1"],
        "id": "urn:uuid:0c0ffee0-0000-4000-8000-000000000000",
        "type": ["VerifiableCredential", "ConsentReceiptCredential"],
        "issuer": ISSUER_DID,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alice"},
        **extra,
    }


def test_every_w3c_context_and_ours_is_bundled() -> None:
    assert {
        V2,
        "https://www.w3.org/2018/credentials/v1",
        "https://www.w3.org/ns/credentials/status/v1",
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://consentry.dev/ns/consent/v1",
    } <= bundled_urls()


def test_bitstring_status_list_terms_come_with_the_vc_2_0_context() -> None:
    context = document_loader(V2)["document"]["@context"]
    assert {"BitstringStatusListCredential", "BitstringStatusList", "BitstringStatusListEntry"} <= set(context)


def test_consentry_context_is_protected_and_has_no_vocab() -> None:
    context = document_loader("https://consentry.dev/ns/consent/v1")["document"]["@context"]
    assert context["@protected"] is True
    assert "@vocab" not in str(context)


def test_loader_refuses_any_url_that_is_not_bundled() -> None:
    with pytest.raises(ContextError, match="not bundled"):
        document_loader("https://example.com/evil-context")


def test_document_referencing_a_remote_context_cannot_be_canonicalized() -> None:
    document = _credential()
    document["@context"] = [V2, "https://schema.org/"]
    with pytest.raises(Exception, match="not bundled"):
        canonicalize(document)


def test_a_bundled_file_that_does_not_match_its_pinned_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    index = {url: dict(entry) for url, entry in contexts_module._index().items()}
    index[V2]["sha256"] = "0" * 64
    monkeypatch.setattr(contexts_module, "_index", lambda: index)
    contexts_module._load_verified.cache_clear()
    try:
        with pytest.raises(ContextError, match="SHA-256"):
            contexts_module.load_context(V2)
    finally:
        contexts_module._load_verified.cache_clear()


def test_undefined_property_is_refused_not_dropped() -> None:
    document = _credential()
    document["credentialSubject"]["favouriteColour"] = "blue"
    with pytest.raises(DataLossError, match="favouriteColour"):
        canonicalize(document)


def test_undefined_type_is_refused_not_dropped() -> None:
    with pytest.raises(DataLossError, match="MysteryCredential"):
        canonicalize(_credential(type=["VerifiableCredential", "MysteryCredential"]))


def test_relative_identifier_is_refused_because_base_is_none() -> None:
    with pytest.raises(DataLossError, match="relative-thing"):
        canonicalize(_credential(id="relative-thing"))


@pytest.mark.parametrize("identifier", ["1:thing", "urn:with space", ":thing"])
def test_an_identifier_rdf_would_drop_is_refused(identifier: str) -> None:
    """RDF conversion leaves out a node whose IRI has no valid scheme: its claims would go unsigned."""
    with pytest.raises(DataLossError, match="not an absolute IRI"):
        canonicalize(_credential(id=identifier))


def test_signing_a_document_with_an_undefined_term_fails(issuer: IssuerKey) -> None:
    document = _credential()
    document["credentialSubject"]["favouriteColour"] = "blue"
    with pytest.raises(DataLossError):
        add_proof(
            document, private_key_multibase=issuer.private_key_multibase, verification_method=issuer.verification_method
        )


def test_verifying_a_document_with_an_added_undefined_term_fails(issuer: IssuerKey, resolver: Any) -> None:
    secured = add_proof(
        _credential(),
        private_key_multibase=issuer.private_key_multibase,
        verification_method=issuer.verification_method,
    )
    secured["credentialSubject"]["favouriteColour"] = "blue"
    result = verify_proof(secured, resolver=resolver)
    assert not result.verified
    assert [e.rule for e in result.errors] == ["undefined-term"]


def test_oversized_and_deeply_nested_input_is_refused_before_processing() -> None:
    with pytest.raises(LimitExceededError, match="bytes"):
        canonicalize(_credential(description="x" * 300_000))
    nested: dict[str, Any] = {"id": "did:example:alice"}
    node = nested
    for _ in range(40):
        node["consent"] = {}
        node = node["consent"]
    with pytest.raises(LimitExceededError, match="depth"):
        canonicalize(_credential(credentialSubject=nested))


def _symmetric_blank_node_graph(n: int) -> dict[str, Any]:
    """A ring of n indistinguishable blank nodes: URDNA2015 must explore n-degree hashes for each."""
    nodes = [{"@id": f"_:b{i}", "https://example.org/p": {"@id": f"_:b{(i + 1) % n}"}} for i in range(n)]
    nodes += [{"@id": f"_:b{i}", "https://example.org/p": {"@id": f"_:b{(i + 2) % n}"}} for i in range(n)]
    return {"@graph": nodes}


def test_crafted_blank_node_graph_hits_the_work_cap_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceededError, match="work limit"):
        canonicalize(_symmetric_blank_node_graph(24), Limits(max_n_degree_calls=50))
    assert time.monotonic() - started < 10


def test_quad_and_blank_node_caps() -> None:
    with pytest.raises(LimitExceededError, match="quads"):
        canonicalize(_symmetric_blank_node_graph(30), Limits(max_quads=20))
    with pytest.raises(LimitExceededError, match="blank nodes"):
        canonicalize(_symmetric_blank_node_graph(30), Limits(max_blank_nodes=10))


def test_warm_context_cache_never_yields_a_wrong_verdict(issuer: IssuerKey, resolver: Any) -> None:
    secured = add_proof(
        _credential(),
        private_key_multibase=issuer.private_key_multibase,
        verification_method=issuer.verification_method,
    )
    for _ in range(3):
        assert verify_proof(secured, resolver=resolver).verified
    changed = copy.deepcopy(secured)
    changed["validFrom"] = "2026-01-02T00:00:00Z"
    assert [e.rule for e in verify_proof(changed, resolver=resolver).errors] == ["signature"]
    swapped = copy.deepcopy(secured)
    swapped["@context"] = [V2]
    assert not verify_proof(swapped, resolver=resolver).verified
    assert verify_proof(secured, resolver=resolver).verified


def test_memoized_context_processing_follows_a_mutated_inline_context() -> None:
    inline = {"favouriteColour": "https://example.org/v1#colour"}
    document = _credential()
    document["@context"] = [V2, "https://consentry.dev/ns/consent/v1", inline]
    document["credentialSubject"]["favouriteColour"] = "blue"
    assert "<https://example.org/v1#colour>" in canonicalize(document)
    inline["favouriteColour"] = "https://example.org/v2#colour"
    second = canonicalize(document)
    assert "<https://example.org/v2#colour>" in second and "v1#colour" not in second


def test_context_caches_are_bounded_and_evict_the_least_recently_used() -> None:
    from credentials.rdfc import _LockedLRU

    cache = _LockedLRU(maxsize=2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1
    cache["c"] = 3
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_canonicalization_time_is_capped() -> None:
    with pytest.raises(LimitExceededError, match="time limit"):
        canonicalize(_symmetric_blank_node_graph(24), Limits(max_seconds=0.0))
