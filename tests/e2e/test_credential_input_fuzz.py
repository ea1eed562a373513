"""No credential input gets a 5xx (issue 18, point 4): adversarial JSON-LD to issue and verify over real HTTP.

Hypothesis builds credentials whose `@context` holds null and odd `@vocab`s, `@protected` term redefinitions,
scoped contexts, unbundled remote URLs and huge inline contexts, with unknown terms, odd values and deep
nesting around them, and proofs of every shape. Whatever it builds, the gateway answers 2xx or 4xx: the work
per request is bounded (body size, nesting depth, canonicalization caps) and malformed input is named.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials import CONSENTRY_V1, VC_V1, VC_V2
from tests.e2e.conftest import Actors
from tests.e2e.credential_helpers import Wallet, unsigned_receipt
from tests.e2e.test_credentials_api import _admin, _issuer, assert_problem, assert_unverified

TERMS = ["VerifiableCredential", "id", "type", "issuer", "credentialSubject", "proof", "consent", "name", "@type"]
REMOTE = ["https://remote.example/context.jsonld", "http://schema.org/", "relative/context", "", "urn:x", "did:web:x"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
iris = st.sampled_from(["https://ex.example/term", "ex:term", "_:b0", "@id", "@type", "@vocab", "@json", "@none", ""])
term_definitions = st.one_of(
    st.none(),
    iris,
    st.fixed_dictionaries(
        {"@id": st.one_of(st.none(), iris)},
        optional={
            "@type": st.one_of(iris, st.just("@id")),
            "@container": st.sampled_from(["@set", "@list", "@graph", "@index", "@language", "bogus"]),
            "@protected": st.booleans(),
            "@context": st.dictionaries(st.sampled_from(TERMS), iris, max_size=2),
        },
    ),
)
inline_contexts = st.one_of(
    st.fixed_dictionaries({"@vocab": st.one_of(st.none(), iris, st.integers(), st.lists(iris, max_size=2))}),
    st.dictionaries(st.sampled_from(TERMS), term_definitions, min_size=1, max_size=3).map(
        lambda terms: {"@protected": True, **terms}
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "@version": st.sampled_from([1.1, 1.0, "1.1", None]),
            "@base": st.one_of(st.none(), iris),
            "@import": st.sampled_from([*REMOTE, VC_V2]),
            "@propagate": st.one_of(st.booleans(), st.integers()),
            "@language": st.one_of(st.none(), st.integers(), st.text(max_size=5)),
        },
    ),
    st.integers(1, 1500).map(lambda n: {f"t{i}": f"https://ex.example/t{i}" for i in range(n)}),
    json_values,
)
contexts = st.lists(
    st.one_of(st.sampled_from([VC_V2, VC_V1, CONSENTRY_V1, *REMOTE]), inline_contexts), min_size=0, max_size=4
).map(lambda tail: [VC_V2, *tail])


def _nested(depth: int) -> Any:
    node: Any = {"id": "did:example:leaf"}
    for _ in range(depth):
        node = {"child": node}
    return node


extras = st.dictionaries(
    st.one_of(
        st.sampled_from(["favouriteColour", "@vocab", "@id", "@graph", "@included", "validFrom"]), st.text(max_size=6)
    ),
    st.one_of(json_values, st.integers(1, 80).map(_nested)),
    max_size=3,
)
proofs = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["DataIntegrityProof", "Ed25519Signature2020", "Ed25519Signature2018", "X"]),
            "cryptosuite": st.sampled_from(["eddsa-rdfc-2022", "eddsa-jcs-2022", "bogus"]),
            "proofPurpose": st.sampled_from(["assertionMethod", "authentication", "x"]),
            "verificationMethod": st.one_of(st.text(max_size=20), st.just("did:key:z6Mk#z6Mk"), json_values),
            "proofValue": st.one_of(st.text(max_size=30).map(lambda t: "z" + t), json_values),
        },
        optional={"previousProof": json_values, "id": json_values, "jws": st.text(max_size=20)},
    ),
)

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _credential(actors: Actors, context: list[Any], extra: dict[str, Any]) -> dict[str, Any]:
    credential = unsigned_receipt(_issuer(actors), "did:example:holder")
    credential["@context"] = context
    credential.update(extra)
    credential["credentialSubject"].update({k: v for k, v in extra.items() if not k.startswith("@")})
    return credential


def _post(http: httpx.Client, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    response = http.post(path, json=body, headers=headers or {})
    assert response.status_code < 500, (response.status_code, response.text, body)
    return response


@_SETTINGS
@given(context=contexts, extra=extras)
def test_issuing_adversarial_json_ld_is_never_a_5xx(actors: Actors, context: list[Any], extra: dict[str, Any]) -> None:
    with actors.gateway.client() as http:
        response = _post(
            http, "/credentials/issue", {"credential": _credential(actors, context, extra)}, _admin(actors)
        )
    assert response.status_code in (201, 400, 413, 422), response.text


@_SETTINGS
@given(context=contexts, extra=extras, proof=proofs)
def test_verifying_adversarial_json_ld_is_never_a_5xx(
    actors: Actors, context: list[Any], extra: dict[str, Any], proof: Any
) -> None:
    credential = {**_credential(actors, context, extra), "proof": proof}
    holder = Wallet.generate()
    presentation = {"@context": context, "type": ["VerifiablePresentation"], "holder": holder.did, "proof": proof}
    with actors.gateway.client() as http:
        verified = _post(http, "/credentials/verify", {"verifiableCredential": credential})
        presented = _post(
            http,
            "/presentations/verify",
            {"verifiablePresentation": {**presentation, "verifiableCredential": [credential]}},
        )
    for response in (verified, presented):
        assert response.status_code in (200, 400, 413), response.text
        if response.status_code == 200:
            assert response.json()["verified"] is False


def test_a_null_vocab_is_a_named_4xx_not_a_500(actors: Actors) -> None:
    """The regression from the issue: `{"@vocab": null}` made pyld raise KeyError inside expansion."""
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    credential["@context"] = [VC_V2, {"@vocab": None}]
    with actors.gateway.client() as http:
        issued = http.post("/credentials/issue", json={"credential": credential}, headers=_admin(actors))
        checked = http.post("/credentials/verify", json={"verifiableCredential": {**credential, "proof": {}}})
    body = assert_problem(issued, 422, "credentials/type-expansion")
    assert "malformed" in body["detail"]
    assert_unverified(checked, "type-expansion")


def test_deep_nesting_and_unbundled_contexts_are_refused_with_their_rule(actors: Actors) -> None:
    credential = unsigned_receipt(_issuer(actors), Wallet.generate().did)
    with actors.gateway.client() as http:
        deep = http.post(
            "/credentials/issue",
            json={"credential": {**credential, "credentialSubject": _nested(40)}},
            headers=_admin(actors),
        )
        remote = http.post(
            "/credentials/issue",
            json={"credential": {**credential, "@context": [VC_V2, "https://remote.example/ctx"]}},
            headers=_admin(actors),
        )
    assert_problem(deep, 413, "credentials/limit-exceeded")
    assert "not bundled" in assert_problem(remote, 422, "credentials/type-expansion")["detail"]
