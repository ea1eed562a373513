"""Signing in to the portal with a DID wallet (DID Authentication), without JavaScript.

The page shows a fresh single-use challenge and the domain; the customer's wallet signs a presentation over
both, and the customer pastes it into the form. The challenge is consumed before the presentation is checked
(a failed attempt burns it), exactly as `POST /v1/session/did` does, with the same challenge store and the
same verifier, so the two ways in cannot disagree. Issuing a challenge writes a row, so it counts against the
same per-address limiter as `POST /v1/session/did/challenge`: one allowance per address, whichever way in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from credentials import CredentialError, CredentialService
from gateway.auth.customers import CustomerStore
from gateway.auth.did_challenges import CHALLENGE_TTL, DidChallengeStore
from gateway.auth.principals import CustomerPrincipal
from gateway.auth.rate_limits import GLOBAL_KEY, RateLimitedError, RequestLimits
from gateway.web.json_body import PRESENTATION_MAX_BYTES

__all__ = ["WalletSignInError", "issue_login_challenge", "wallet_customer"]


class WalletSignInError(Exception):
    """The presentation did not prove control of a DID bound to a customer; `kind` names the failed step
    (`malformed`, `challenge`, `proof`, `unknown-did`) so the page can say it in the customer's language."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _store(engine: Engine) -> DidChallengeStore:
    return DidChallengeStore(engine, CHALLENGE_TTL)


def issue_login_challenge(
    engine: Engine, credentials: CredentialService, limits: RequestLimits, address: str
) -> tuple[str, str]:
    """A fresh login challenge and the domain the wallet must sign with it; raises `RateLimitedError` (and
    issues nothing) once `address` has spent its burst, or the process its credential checks (each challenge
    buys one signature check)."""
    limits.did_challenge_per_address.hit(address)
    try:
        limits.credential_checks_global.hit(GLOBAL_KEY)
    except RateLimitedError:
        limits.did_challenge_per_address.refund(address)
        raise
    challenge, _ = _store(engine).issue("login")
    return challenge, credentials.domain


def _signed_challenge(presentation: Mapping[str, Any]) -> str | None:
    proofs = presentation.get("proof")
    for proof in proofs if isinstance(proofs, list) else [proofs]:
        if isinstance(proof, Mapping) and isinstance(proof.get("challenge"), str):
            return str(proof["challenge"])
    return None


def wallet_customer(
    engine: Engine, credentials: CredentialService, customers: CustomerStore, pasted: str
) -> CustomerPrincipal:
    """The customer whose bound DID signed this presentation over a live challenge of ours."""
    if len(pasted.encode()) > PRESENTATION_MAX_BYTES:
        raise WalletSignInError("malformed", "the presentation is too large")
    try:
        presentation = json.loads(pasted)
    except json.JSONDecodeError as exc:
        raise WalletSignInError("malformed", f"the presentation is not JSON: {exc.msg}") from None
    if not isinstance(presentation, dict):
        raise WalletSignInError("malformed", "the presentation must be a JSON object")
    challenge = _signed_challenge(presentation)
    if challenge is None or not _store(engine).consume(challenge, "login"):
        raise WalletSignInError(
            "challenge", "the presentation does not answer a live challenge (unknown, used or expired)"
        )
    try:
        did = credentials.verify_wallet_login(presentation, challenge=challenge)
    except CredentialError as exc:
        raise WalletSignInError("proof", f"the presentation did not verify ({exc.rule})") from None
    customer = customers.by_did(did)
    if customer is None:
        raise WalletSignInError("unknown-did", "no customer has bound this DID")
    return customer
