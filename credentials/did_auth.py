"""DID Authentication for wallet login: the wallet signs a presentation over our challenge and domain.

The gateway issues the challenge, stores it for one use, and passes it back here; a presentation
signed for another challenge, another domain or another proof purpose is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credentials.contexts import VC_V2
from credentials.data_integrity import RDFC, VerificationResult, add_proof
from credentials.dids import DidResolver
from credentials.errors import CredentialError
from credentials.verification import verify_presentation


class DidAuthError(CredentialError):
    """The login presentation does not prove control of the DID for this challenge and domain."""

    rule = "did-auth"

    def __init__(self, result: VerificationResult) -> None:
        super().__init__("; ".join(str(e) for e in result.errors) or "presentation did not verify")
        self.result = result


def new_challenge() -> str:
    """256 bits from the OS CSPRNG, URL-safe; the caller stores it and accepts it once."""
    return secrets.token_urlsafe(32)


def create_did_auth_presentation(
    holder: str,
    *,
    private_key_multibase: str,
    verification_method: str,
    challenge: str,
    domain: str,
    cryptosuite: str = RDFC,
    created: str | None = None,
) -> dict[str, Any]:
    """What a wallet sends: an empty presentation signed for `authentication` (used by tests and demos)."""
    presentation = {"@context": [VC_V2], "type": ["VerifiablePresentation"], "holder": holder}
    return add_proof(
        presentation,
        private_key_multibase=private_key_multibase,
        verification_method=verification_method,
        cryptosuite=cryptosuite,
        created=created,
        proof_purpose="authentication",
        challenge=challenge,
        domain=domain,
    )


def verify_did_auth(
    presentation: Mapping[str, Any],
    *,
    challenge: str,
    domain: str,
    resolver: DidResolver | None = None,
    now: datetime | None = None,
) -> str:
    """The DID that logged in, or DidAuthError. The holder must be named and must control the key."""
    holder = presentation.get("holder") if isinstance(presentation, Mapping) else None
    result = verify_presentation(presentation, challenge=challenge, domain=domain, resolver=resolver, now=now)
    if not isinstance(holder, str):
        result.fail("holder", "a login presentation must name its holder DID")
    if not result.verified:
        raise DidAuthError(result)
    return str(holder)
