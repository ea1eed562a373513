"""The customer's DID: an Ed25519 did:key whose private key lives only in the wallet.

It proves control of the DID to the gateway and to source systems (DID Authentication: a presentation
signed over their challenge and domain) and signs temporary access grants. Both are W3C Data Integrity
proofs with `eddsa-jcs-2022`, so the wallet needs no JSON-LD processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credentials import (
    JCS,
    AccessGrant,
    create_did_auth_presentation,
    did_key_verification_method,
    generate_key_pair,
    key_pair_from_private,
    private_key_from_multibase,
    sign_access_grant,
)


@dataclass(frozen=True)
class DidKey:
    """A did:key and its private key (Multikey base58btc); the key never appears in `repr`."""

    did: str
    private_key_multibase: str

    def __repr__(self) -> str:
        return f"DidKey({self.did!r})"

    @classmethod
    def generate(cls) -> DidKey:
        return cls.from_private(generate_key_pair().private_key_multibase)

    @classmethod
    def from_private(cls, private_key_multibase: str) -> DidKey:
        """The did:key of a private key (`KeyFormatError` when it is not an Ed25519 Multikey)."""
        pair = key_pair_from_private(private_key_from_multibase(private_key_multibase))
        did = did_key_verification_method(pair.public_key_multibase).split("#", 1)[0]
        return cls(did, private_key_multibase)

    @property
    def verification_method(self) -> str:
        return did_key_verification_method(self.did.removeprefix("did:key:"))

    def login_presentation(self, challenge: str, domain: str) -> dict[str, Any]:
        """A DID Authentication presentation over a server's single-use challenge and its domain."""
        return create_did_auth_presentation(
            self.did,
            private_key_multibase=self.private_key_multibase,
            verification_method=self.verification_method,
            challenge=challenge,
            domain=domain,
            cryptosuite=JCS,
        )

    def grant(
        self, recipient: str, categories: list[str], purpose: str, *, start: datetime, until: datetime
    ) -> dict[str, Any]:
        """A signed temporary access grant from this DID (see `credentials.access_grant`)."""
        grant = AccessGrant.new(self.did, recipient, categories, purpose, start=start, until=until)
        return sign_access_grant(grant, self.private_key_multibase)
