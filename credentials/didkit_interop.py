"""didkit (SpruceID, Rust) as an independent implementation: issue and verify VC 1.1 through it.

didkit 0.3 knows VC 1.1 only (no VC 2.0 / DataIntegrityProof), so receipts are offered to it as VC 1.1
credentials with our vocabulary inlined as a context object (it cannot load our context URL).
didkit runs in one spawned child process (see didkit_worker); the async functions await it without
blocking the event loop, the `_sync` helpers wait for it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from credentials import didkit_worker
from credentials.contexts import CONSENTRY_V1, VC_V1, load_context
from credentials.data_integrity import VerificationResult
from credentials.errors import InteropError
from credentials.keys import private_jwk
from credentials.receipts import RECEIPT_TYPE, ConsentReceiptClaims

_POOL: ProcessPoolExecutor | None = None
_TIMEOUT = 60


def receipt_v11(claims: ConsentReceiptClaims, *, issuer: str, credential_id: str, issuance_date: str) -> dict[str, Any]:
    """The receipt in VC 1.1 shape; VC 1.1 has no status list context didkit knows, so no credentialStatus."""
    claims.validate()
    credential: dict[str, Any] = {
        "@context": [VC_V1, load_context(CONSENTRY_V1)["@context"]],
        "id": credential_id,
        "type": ["VerifiableCredential", RECEIPT_TYPE],
        "issuer": issuer,
        "issuanceDate": issuance_date,
        "credentialSubject": {"id": claims.subject_did, "consent": claims.consent_record()},
    }
    if claims.valid_until is not None:
        credential["expirationDate"] = claims.valid_until
    return credential


def _pool() -> ProcessPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=didkit_worker.initialize
        )
    return _POOL


def _issue_args(
    credential: Mapping[str, Any],
    private_key_multibase: str,
    verification_method: str,
    proof_format: str,
    proof_type: str,
) -> tuple[str, str, str]:
    options: dict[str, Any] = {
        "proofFormat": proof_format,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    if proof_format == "ldp":
        options["type"] = proof_type
    return json.dumps(credential), json.dumps(options), json.dumps(private_jwk(private_key_multibase))


def _issued(raw: str, proof_format: str) -> dict[str, Any] | str:
    if proof_format == "jwt":
        return raw
    result: dict[str, Any] = json.loads(raw)
    return result


def _verdict(raw: str) -> VerificationResult:
    verdict = json.loads(raw)
    result = VerificationResult(
        checks=[str(c) for c in verdict.get("checks", [])], warnings=[str(w) for w in verdict.get("warnings", [])]
    )
    for error in verdict.get("errors", []):
        result.fail("didkit", str(error))
    return result


def _verify_args(credential: Mapping[str, Any] | str, proof_format: str) -> tuple[str, str]:
    payload = credential if isinstance(credential, str) else json.dumps(credential)
    return payload, json.dumps({"proofFormat": proof_format})


async def didkit_issue(
    credential: Mapping[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    proof_format: str = "ldp",
    proof_type: str = "Ed25519Signature2018",
) -> dict[str, Any] | str:
    """A VC 1.1 credential secured by didkit: an LD proof (dict) or a JWT-VC (str)."""
    args = _issue_args(credential, private_key_multibase, verification_method, proof_format, proof_type)
    try:
        raw = await asyncio.wrap_future(_pool().submit(didkit_worker.issue, *args))
    except didkit_worker.DidkitFailure as exc:
        raise InteropError(f"didkit refused to issue: {exc}") from None
    return _issued(raw, proof_format)


async def didkit_verify(credential: Mapping[str, Any] | str, *, proof_format: str = "ldp") -> VerificationResult:
    """didkit's verdict, in our result type, so tests compare both implementations directly."""
    try:
        raw = await asyncio.wrap_future(_pool().submit(didkit_worker.verify, *_verify_args(credential, proof_format)))
    except didkit_worker.DidkitFailure as exc:
        raise InteropError(f"didkit could not verify: {exc}") from None
    return _verdict(raw)


def didkit_issue_sync(
    credential: Mapping[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    proof_format: str = "ldp",
    proof_type: str = "Ed25519Signature2018",
) -> dict[str, Any] | str:
    args = _issue_args(credential, private_key_multibase, verification_method, proof_format, proof_type)
    try:
        raw = _pool().submit(didkit_worker.issue, *args).result(timeout=_TIMEOUT)
    except didkit_worker.DidkitFailure as exc:
        raise InteropError(f"didkit refused to issue: {exc}") from None
    return _issued(raw, proof_format)


def didkit_verify_sync(credential: Mapping[str, Any] | str, *, proof_format: str = "ldp") -> VerificationResult:
    try:
        raw = _pool().submit(didkit_worker.verify, *_verify_args(credential, proof_format)).result(timeout=_TIMEOUT)
    except didkit_worker.DidkitFailure as exc:
        raise InteropError(f"didkit could not verify: {exc}") from None
    return _verdict(raw)


def didkit_benchmark(
    credential: Mapping[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    count: int,
    rounds: int,
    cpu: int | None,
) -> dict[str, float]:
    """didkit's Ed25519Signature2018 rates measured inside the worker (no IPC in the timings)."""
    args = _issue_args(credential, private_key_multibase, verification_method, "ldp", "Ed25519Signature2018")
    result: dict[str, float] = _pool().submit(didkit_worker.benchmark, *args, count, rounds, cpu).result()
    return result
