"""Verifying credentials and presentations: data model, proof, issuer key, validity period, status.

The proof alone is not enough: the key must belong to the issuer the credential names, the credential
must be inside its validity period, and its status list bit must be clear. Every check is recorded
so a refusal names the rule that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from credentials.bitstring_status_list import check_status
from credentials.contexts import VC_V1
from credentials.data_integrity import RDFC, VerificationResult, verify_proof
from credentials.datetimes import now_utc, parse_datetime
from credentials.dids import DidResolver
from credentials.ed25519_signature_2020 import SIGNATURE_2020, verify_ed25519_signature_2020
from credentials.errors import CanonicalizationError, CredentialError, LimitExceededError, ValidationError
from credentials.rdfc import DEFAULT_LIMITS, Limits, expand_strict
from credentials.vc11 import SIGNATURE_2018, validate_credential_v11, verify_ed25519_signature_2018
from credentials.vcdm2 import issuer_id, validate_credential, validate_presentation

StatusListLookup = Callable[[str], Mapping[str, Any]]
"""Returns the status list credential published at a URL (the gateway serves its own from storage)."""


def _proof_list(document: Mapping[str, Any]) -> list[Any]:
    proofs = document.get("proof")
    return proofs if isinstance(proofs, list) else [proofs]


def _all_rdfc(document: Mapping[str, Any]) -> bool:
    """Every proof canonicalizes with RDFC, which refuses unexpandable terms itself (so expansion is not repeated)."""
    items = _proof_list(document)
    return bool(items) and all(
        isinstance(p, Mapping) and (p.get("cryptosuite") == RDFC or p.get("type") in (SIGNATURE_2020, SIGNATURE_2018))
        for p in items
    )


def _verify_proofs(
    document: Mapping[str, Any], resolver: DidResolver, now: datetime, limits: Limits
) -> VerificationResult:
    """The suite is chosen by the proofs' type: Data Integrity, or one of the older Ed25519 signature suites."""
    types = {str(p.get("type")) for p in _proof_list(document) if isinstance(p, Mapping)}
    if types == {SIGNATURE_2020}:
        return verify_ed25519_signature_2020(document, resolver=resolver, now=now, limits=limits)
    if types == {SIGNATURE_2018}:
        return verify_ed25519_signature_2018(document, resolver=resolver, limits=limits)
    return verify_proof(document, resolver=resolver, now=now, limits=limits)


def verify_credential(
    credential: Mapping[str, Any],
    *,
    resolver: DidResolver | None = None,
    status_list_lookup: StatusListLookup | None = None,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    resources: Mapping[str, bytes] | None = None,
) -> VerificationResult:
    """A VC 2.0 credential, or a VC 1.1 one (told apart by the first `@context`), checked against its own model.

    `resources` holds the bytes of related resources the caller has, so their digests are checked too.
    """
    result = VerificationResult()
    resolver = resolver or DidResolver()
    moment = now or now_utc()
    legacy = isinstance(credential, Mapping) and _first_context(credential) == VC_V1
    try:
        if legacy:
            validate_credential_v11(credential)
            if not _all_rdfc(credential):
                expand_strict(dict(credential), limits)
        else:
            unchecked = validate_credential(
                credential, limits=limits, check_expansion=not _all_rdfc(credential), resources=resources
            )
            result.warnings.extend(f"relatedResource {u} not held: digest unchecked" for u in unchecked)
    except ValidationError as exc:
        result.fail(exc.rule, exc.message)
        return result
    except CanonicalizationError as exc:
        result.fail(exc.rule if isinstance(exc, LimitExceededError) else "type-expansion", str(exc))
        return result
    result.checks.append("data-model")
    proof = _verify_proofs(credential, resolver, moment, limits)
    result.merge(proof)
    if not proof.verified:
        return result
    issuer = issuer_id(credential)
    if any(controller != issuer for controller in proof.controllers):
        result.fail("issuer-key", f"proof key is not controlled by the issuer {issuer}")
        return result
    if "issuer-key" not in result.checks:
        result.checks.append("issuer-key")
    start, end = ("issuanceDate", "expirationDate") if legacy else ("validFrom", "validUntil")
    valid_from = parse_datetime(credential.get(start))
    valid_until = parse_datetime(credential.get(end))
    if valid_from is not None and moment < valid_from:
        result.fail("not-yet-valid", f"credential is valid from {credential[start]}")
    elif valid_until is not None and moment > valid_until:
        result.fail("expired", f"credential expired at {credential[end]}")
    else:
        result.checks.append("validity-period")
    _check_statuses(credential, issuer, result, resolver, status_list_lookup, now, limits)
    return result


def _first_context(document: Mapping[str, Any]) -> Any:
    context = document.get("@context")
    return context[0] if isinstance(context, list) and context else context


def _check_statuses(
    credential: Mapping[str, Any],
    issuer: str,
    result: VerificationResult,
    resolver: DidResolver,
    lookup: StatusListLookup | None,
    now: datetime | None,
    limits: Limits,
) -> None:
    # The list is looked up after our clock was read and may have been signed since, so it is checked
    # against a fresh reading unless the caller pinned the time.
    raw = credential.get("credentialStatus")
    if raw is None:
        return
    entries = raw if isinstance(raw, list) else [raw]
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
            kind = entry.get("type") if isinstance(entry, Mapping) else entry
            result.fail("status-type", f"unsupported credentialStatus type {kind!r}")
            continue
        url = entry.get("statusListCredential")
        if lookup is None:
            result.fail("status-unavailable", f"no status list source to check {url}")
            continue
        try:
            list_credential = lookup(str(url))
        except CredentialError as exc:
            result.fail("status-unavailable", f"status list {url}: {exc}")
            continue
        listed = verify_credential(list_credential, resolver=resolver, now=now, limits=limits)
        if not listed.verified:
            result.fail("status-list-invalid", "; ".join(str(e) for e in listed.errors))
            continue
        if issuer_id(list_credential) != issuer:
            result.fail("status-list-issuer", "status list is issued by someone other than the credential issuer")
            continue
        try:
            is_set = check_status(entry, list_credential)
        except CredentialError as exc:
            result.fail("status-list-invalid", str(exc))
            continue
        purpose = entry.get("statusPurpose")
        if is_set and purpose in ("revocation", "suspension"):
            result.fail(
                f"status-{'revoked' if purpose == 'revocation' else 'suspended'}", f"credential {purpose} bit is set"
            )
        else:
            result.checks.append(f"status-{purpose}")


def verify_presentation(
    presentation: Mapping[str, Any],
    *,
    challenge: str | None,
    domain: str | None,
    resolver: DidResolver | None = None,
    status_list_lookup: StatusListLookup | None = None,
    proof_purpose: str = "authentication",
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerificationResult:
    """A presentation proves the holder answered *this* challenge for *this* domain, then each credential.

    With no challenge to answer, a presentation without a proof is accepted as a mere envelope of
    credentials (VC API proofless verification): nothing about its holder is proven, and a warning says so.
    """
    result = VerificationResult()
    resolver = resolver or DidResolver()
    try:
        validate_presentation(presentation, limits=limits, check_expansion=not _all_rdfc(presentation))
    except ValidationError as exc:
        result.fail(exc.rule, exc.message)
        return result
    except LimitExceededError as exc:
        result.fail(exc.rule, str(exc))
        return result
    result.checks.append("data-model")
    if challenge is None and "proof" not in presentation:
        result.warnings.append("presentation-unsigned: the presentation has no proof, so its holder is not proven")
    else:
        proof = verify_proof(
            presentation,
            resolver=resolver,
            expected_proof_purpose=proof_purpose,
            challenge=challenge,
            domain=domain,
            now=now,
            limits=limits,
        )
        result.merge(proof)
        if not proof.verified:
            return result
        holder = presentation.get("holder")
        holder_id = holder.get("id") if isinstance(holder, Mapping) else holder
        if holder_id is not None and any(c != holder_id for c in proof.controllers):
            result.fail("holder-key", f"presentation proof key is not controlled by the holder {holder_id}")
            return result
        result.checks.append("holder-key")
    raw = presentation.get("verifiableCredential", [])
    for credential in raw if isinstance(raw, list) else [raw]:
        inner = verify_credential(
            credential, resolver=resolver, status_list_lookup=status_list_lookup, now=now, limits=limits
        )
        if inner.verified:
            result.checks.append("credential")
        result.errors.extend(inner.errors)
        result.warnings.extend(inner.warnings)
    return result
