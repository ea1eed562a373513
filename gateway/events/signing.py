"""Change events are signed as HTTP messages (RFC 9421, HTTP Message Signatures) with the gateway's Ed25519 key.

The signature covers the method, the target URI (so a delivery cannot be replayed to another endpoint), the
content type, the event id header and the body through its `Content-Digest` (RFC 9530); `created` bounds its age
and the `tag` names the application, so a signature made for anything else never verifies as an event. The key
is the `events` ring of the data directory; recipients fetch its public half as a JWK Set from
`GET /v1/events/keys` and look the key up by `keyid` (its RFC 7638 thumbprint), so a rotation breaks nothing.

`verify_event` is what a recipient runs (the demo's marketing agency does): it uses the same independent RFC 9421
implementation (`http-message-signatures`) over the request as received.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from gateway.keys import KeyRing
from ledger.b64 import b64url_decode, b64url_encode

__all__ = [
    "CONFIRMATION_COMPONENTS",
    "CONFIRMATION_TAG",
    "COVERED_COMPONENTS",
    "EVENT_ID_HEADER",
    "EVENT_TAG",
    "EventSigner",
    "InvalidEvent",
    "ed25519_public_jwk",
    "verify_event",
    "verify_signed_request",
]

EVENT_TAG = "consentry-event"
SIGNATURE_LABEL = "consentry"
EVENT_ID_HEADER = "Consentry-Event-Id"
COVERED_COMPONENTS = ("@method", "@target-uri", "content-type", "consentry-event-id", "content-digest")
MAX_AGE = timedelta(minutes=15)
# A recipient that registered its own key signs its confirmations with it (mutual authentication): the signature
# covers the method, the target URI (which names the event), the bearer token and the body's digest.
CONFIRMATION_TAG = "consentry-confirmation"
CONFIRMATION_COMPONENTS = ("@method", "@target-uri", "authorization", "content-digest")


class InvalidEvent(Exception):
    """The delivery is not a change event the gateway signed: bad signature, digest, age, key or body."""


class _RingResolver(HTTPSignatureKeyResolver):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        key = self.ring.get(key_id)
        if key is None or not isinstance(key.private_key, Ed25519PrivateKey):
            raise KeyError(key_id)
        return key.private_key

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        return self.resolve_private_key(key_id).public_key()


class EventSigner:
    """Signs outgoing deliveries with the current key of the `events` ring (re-read, so rotations apply)."""

    def __init__(self, ring: Callable[[], KeyRing]) -> None:
        self._ring = ring

    def sign(self, request: Any, body: bytes) -> None:
        """Add `Content-Digest`, `Signature-Input` and `Signature` to `request` (an `httpx.Request`)."""
        ring = self._ring()
        signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_RingResolver(ring))
        signer.sign(
            request,
            key_id=ring.current_kid,
            label=SIGNATURE_LABEL,
            tag=EVENT_TAG,
            covered_component_ids=COVERED_COMPONENTS[:-1],
            body=body,
        )


class _JwksResolver(HTTPSignatureKeyResolver):
    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.keys: dict[str, Ed25519PublicKey] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and isinstance(jwk.get("kid"), str):
                self.keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"], canonical=False))

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey:
        key = self.keys.get(key_id)
        if key is None:
            raise InvalidSignature(f"no published key {key_id!r}")
        return key


def ed25519_public_jwk(jwk: Mapping[str, Any]) -> dict[str, str]:
    """The recipient's key as registered: an Ed25519 public JWK (no private part), with its RFC 7638 thumbprint as
    `kid`; raises `ValueError` for anything else."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk or not isinstance(jwk.get("x"), str):
        raise ValueError("public_jwk: an Ed25519 public key (kty OKP, crv Ed25519, x) without its private part")
    try:
        raw = b64url_decode(jwk["x"], canonical=False)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"public_jwk: {exc}") from None
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"), sort_keys=True)
    kid = b64url_encode(hashlib.sha256(members.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": kid}


def verify_signed_request(
    message: Any, body: bytes, jwks: Mapping[str, Any], *, tag: str, components: tuple[str, ...]
) -> None:
    """Check `message` carries a valid RFC 9421 signature with `tag`, covering `components`, by a key of `jwks`;
    raises `InvalidEvent` otherwise."""
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=_JwksResolver(jwks))
    try:
        verifier.verify(message, expect_tag=tag, body=body, require_components=components, max_age=MAX_AGE)
    except Exception as exc:  # bad, missing, stale or malformed: not signed by the registered key either way
        raise InvalidEvent(f"{type(exc).__name__}: {exc}") from None


def verify_event(message: Any, body: bytes, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The event a delivery carries, after checking its signature against the gateway's published JWK Set.

    `message` has `method`, `url` and `headers` as received (an `httpx.Request` rebuilt from the server's view).
    Raises `InvalidEvent` for anything the gateway did not sign exactly so.
    """
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=_JwksResolver(jwks))
    try:
        verifier.verify(
            message, expect_tag=EVENT_TAG, body=body, require_components=COVERED_COMPONENTS, max_age=MAX_AGE
        )
        event = json.loads(body)
    except (InvalidSignature, ValueError) as exc:
        raise InvalidEvent(str(exc)) from None
    except Exception as exc:  # the library's other refusals (malformed fields): not an event we signed either
        raise InvalidEvent(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(event, dict) or event.get("id") != message.headers.get(EVENT_ID_HEADER):
        raise InvalidEvent("the event id header does not name the signed body's event")
    return event
