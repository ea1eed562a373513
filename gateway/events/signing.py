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
from ledger.b64 import b64url_decode

__all__ = [
    "COVERED_COMPONENTS",
    "EVENT_ID_HEADER",
    "EVENT_TAG",
    "EventSigner",
    "InvalidEvent",
    "verify_event",
]

EVENT_TAG = "consentry-event"
SIGNATURE_LABEL = "consentry"
EVENT_ID_HEADER = "Consentry-Event-Id"
COVERED_COMPONENTS = ("@method", "@target-uri", "content-type", "consentry-event-id", "content-digest")
MAX_AGE = timedelta(minutes=15)


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
