"""did:key and did:web for Ed25519 Multikey, resolved offline.

did:key documents are derived from the identifier itself. did:web is resolved only from controller
documents the caller hands in (our own, from configuration): fetching over the network at verification
time would let whoever answers the request decide what verifies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credentials.errors import DidResolutionError, KeyFormatError
from credentials.keys import public_key_from_jwk, public_key_from_multibase

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
# Ed25519VerificationKey2020 encodes its key exactly as Multikey does (multicodec ed25519-pub, base58btc).
MULTIBASE_KEY_TYPES = ("Multikey", "Ed25519VerificationKey2020")
RELATIONSHIPS = ("authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation")


@dataclass(frozen=True)
class VerificationMethod:
    """A resolved public key and the controller that published it."""

    id: str
    controller: str
    public_key: Ed25519PublicKey
    public_key_multibase: str | None = None


def did_key_from_multibase(public_key_multibase: str) -> str:
    public_key_from_multibase(public_key_multibase)
    return f"did:key:{public_key_multibase}"


def did_key_verification_method(public_key_multibase: str) -> str:
    """The verification method URL of a did:key: the key's multibase repeated as fragment."""
    return f"{did_key_from_multibase(public_key_multibase)}#{public_key_multibase}"


def did_key_document(did: str) -> dict[str, Any]:
    if not did.startswith("did:key:"):
        raise DidResolutionError(f"not a did:key: {did!r}")
    multibase = did[len("did:key:") :]
    try:
        public_key_from_multibase(multibase)
    except KeyFormatError as exc:
        raise DidResolutionError(f"did:key is not an Ed25519 Multikey: {exc}") from None
    vm_id = f"{did}#{multibase}"
    document: dict[str, Any] = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [{"id": vm_id, "type": "Multikey", "controller": did, "publicKeyMultibase": multibase}],
    }
    for relationship in RELATIONSHIPS:
        document[relationship] = [vm_id]
    return document


def did_web_from_domain(domain: str, path: Iterable[str] = ()) -> str:
    """did:web method-specific id: host (port colon percent-encoded), then path segments joined by ':'."""
    if not domain or "/" in domain:
        raise DidResolutionError(f"did:web domain must be a bare host[:port], got {domain!r}")
    parts = [quote(domain, safe="")] + [quote(p, safe="") for p in path]
    return "did:web:" + ":".join(parts)


def did_web_document_url(did: str) -> str:
    """Where a did:web document lives: /.well-known/did.json for a bare host, else <path>/did.json."""
    if not did.startswith("did:web:"):
        raise DidResolutionError(f"not a did:web: {did!r}")
    parts = did[len("did:web:") :].split(":")
    host = unquote(parts[0])
    if len(parts) == 1:
        return f"https://{host}/.well-known/did.json"
    return f"https://{host}/" + "/".join(unquote(p) for p in parts[1:]) + "/did.json"


def did_web_document(
    did: str, public_keys_multibase: list[str], *, authentication: list[str] | None = None
) -> dict[str, Any]:
    """Our issuer's DID document. Keys are listed newest last; rotation appends and never removes.

    Every key stays an assertionMethod so receipts signed before a rotation keep verifying; only the keys
    in `authentication` (default: the newest) may prove control of the DID for login.
    """
    if not public_keys_multibase:
        raise DidResolutionError("a DID document needs at least one key")
    methods = []
    for multibase in public_keys_multibase:
        public_key_from_multibase(multibase)
        methods.append(
            {"id": f"{did}#{multibase}", "type": "Multikey", "controller": did, "publicKeyMultibase": multibase}
        )
    ids = [m["id"] for m in methods]
    auth = [f"{did}#{m}" for m in (authentication if authentication is not None else public_keys_multibase[-1:])]
    unknown = set(auth) - set(ids)
    if unknown:
        raise DidResolutionError(f"authentication keys not in the document: {sorted(unknown)}")
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
        "authentication": auth,
        "capabilityInvocation": auth,
    }


class DidResolver:
    """Offline resolver: did:key always, anything else only from the controller documents given.

    `documents` maps a controller id (a did:web, or an https controller URL) to its document.
    """

    def __init__(self, documents: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._documents = dict(documents or {})

    def resolve(self, did: str) -> Mapping[str, Any]:
        if did.startswith("did:key:"):
            return did_key_document(did)
        document = self._documents.get(did)
        if document is None:
            raise DidResolutionError(
                f"cannot resolve {did!r} offline: only did:key and configured documents are trusted"
            )
        if document.get("id") != did:
            raise DidResolutionError(f"document for {did!r} names itself {document.get('id')!r}")
        return document

    def verification_method(self, url: str, purpose: str) -> VerificationMethod:
        """Dereference a key URL and check its controller authorizes it for `purpose`."""
        if not isinstance(url, str) or "#" not in url:
            raise DidResolutionError(f"verificationMethod must be a URL with a fragment, got {url!r}")
        controller_id = url.split("#", 1)[0]
        document = self.resolve(controller_id)
        allowed = document.get(purpose, [])
        allowed_ids = {self._absolute(controller_id, a if isinstance(a, str) else a.get("id", "")) for a in allowed}
        if url not in allowed_ids:
            raise DidResolutionError(f"{url} is not authorized for {purpose} by {controller_id}")
        embedded = [a for a in allowed if isinstance(a, dict)]
        for method in list(document.get("verificationMethod", [])) + embedded:
            if self._absolute(controller_id, method.get("id", "")) == url:
                return self._method(controller_id, url, method)
        raise DidResolutionError(f"{url} is not a verification method of {controller_id}")

    @staticmethod
    def _absolute(controller_id: str, ref: str) -> str:
        return controller_id + ref if ref.startswith("#") else ref

    @staticmethod
    def _method(controller_id: str, url: str, method: Mapping[str, Any]) -> VerificationMethod:
        if method.get("controller") != controller_id:
            raise DidResolutionError(f"{url} is controlled by {method.get('controller')!r}, not {controller_id!r}")
        try:
            if method.get("type") in MULTIBASE_KEY_TYPES and isinstance(method.get("publicKeyMultibase"), str):
                multibase = method["publicKeyMultibase"]
                return VerificationMethod(url, controller_id, public_key_from_multibase(multibase), multibase)
            if isinstance(method.get("publicKeyJwk"), dict):
                return VerificationMethod(url, controller_id, public_key_from_jwk(method["publicKeyJwk"]))
        except KeyFormatError as exc:
            raise DidResolutionError(f"{url}: {exc}") from None
        raise DidResolutionError(f"{url} is not an Ed25519 Multikey or JWK verification method")
