"""VC 1.1 securing that didkit also speaks: Ed25519Signature2018 (detached JWS) and JWT-VC (EdDSA).

These exist for interoperability with wallets and verifiers that predate VC 2.0 Data Integrity.
Ed25519Signature2018 signs base64url(header) + "." + (SHA-256(c14n proof options) || SHA-256(c14n
document)) with an unencoded-payload JWS (RFC 7797, b64=false). Ed25519Signature2020 has its own module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from credentials.contexts import VC_V1
from credentials.data_integrity import VerificationResult
from credentials.datetimes import format_datetime, now_utc, parse_datetime
from credentials.dids import DidResolver
from credentials.errors import CredentialError, KeyFormatError, ProofError, ValidationError
from credentials.keys import ed25519_verify, private_key_from_multibase
from credentials.multibase import b64url_decode, b64url_encode
from credentials.rdfc import DEFAULT_LIMITS, Limits, canonicalize
from credentials.vcdm2 import is_url

SIGNATURE_2018 = "Ed25519Signature2018"
_DETACHED_HEADER = {"alg": "EdDSA", "b64": False, "crit": ["b64"]}


def _verify_data(document: Mapping[str, Any], proof_options: Mapping[str, Any], limits: Limits) -> bytes:
    options = {k: v for k, v in proof_options.items() if k not in ("jws", "proofValue", "signatureValue")}
    options["@context"] = document.get("@context")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    return (
        hashlib.sha256(canonicalize(options, limits).encode()).digest()
        + hashlib.sha256(canonicalize(unsecured, limits).encode()).digest()
    )


def linked_data_proof_options(
    document: Mapping[str, Any], proof_type: str, verification_method: str, created: str | None, proof_purpose: str
) -> dict[str, Any]:
    """The proof options of the pre-Data-Integrity suites (2018, 2020), which sign one proof per document."""
    if "proof" in document:
        raise ProofError("document already has a proof")
    return {
        "type": proof_type,
        "created": created or format_datetime(now_utc()),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }


def add_ed25519_signature_2018(
    document: dict[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    key = private_key_from_multibase(private_key_multibase)
    proof = linked_data_proof_options(document, SIGNATURE_2018, verification_method, created, proof_purpose)
    header = b64url_encode(json.dumps(_DETACHED_HEADER, separators=(",", ":")).encode())
    signature = key.sign(header.encode() + b"." + _verify_data(document, proof, limits))
    return {**document, "proof": {**proof, "jws": f"{header}..{b64url_encode(signature)}"}}


def validate_credential_v11(credential: Any) -> None:
    """The VC Data Model 1.1 rules (§4) a verifier checks before the proof; each failure names its rule."""
    if not isinstance(credential, Mapping):
        raise ValidationError("credential", "a credential must be a JSON object")
    context = credential.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_V1:
        raise ValidationError("context", f"VC 1.1 @context must be a list starting with {VC_V1}")
    types = credential.get("type")
    if "VerifiableCredential" not in (types if isinstance(types, list) else [types]):
        raise ValidationError("type", "type must include VerifiableCredential")
    if "id" in credential and not is_url(credential["id"]):
        raise ValidationError("id", "id must be a URL")
    issuer = credential.get("issuer")
    if not is_url(issuer.get("id") if isinstance(issuer, Mapping) else issuer):
        raise ValidationError("issuer", "issuer must be a URL or an object whose id is a URL")
    subjects = credential.get("credentialSubject")
    listed = subjects if isinstance(subjects, list) else [subjects]
    if not subjects or not all(isinstance(s, Mapping) and s for s in listed):
        raise ValidationError("credential-subject", "credentialSubject must be a non-empty object or list of them")
    issued = parse_datetime(credential.get("issuanceDate"))
    if issued is None:
        raise ValidationError("issuance-date", "issuanceDate must be an XML Schema dateTime")
    if "expirationDate" in credential:
        expires = parse_datetime(credential["expirationDate"])
        if expires is None or expires < issued:
            raise ValidationError("expiration-date", "expirationDate must be a dateTime after issuanceDate")


def verify_ed25519_signature_2018(
    document: Mapping[str, Any], *, resolver: DidResolver | None = None, limits: Limits = DEFAULT_LIMITS
) -> VerificationResult:
    """Verify a VC 1.1 credential's Ed25519Signature2018 proof, including that the issuer owns the key."""
    result = VerificationResult()
    resolver = resolver or DidResolver()
    try:
        validate_credential_v11(document)
        proof = document.get("proof")
        if not isinstance(proof, Mapping) or proof.get("type") != SIGNATURE_2018:
            raise ProofError(f"proof must be a single {SIGNATURE_2018}")
        header_b64, payload, signature_b64 = str(proof.get("jws", "")).split(".")
        header = json.loads(b64url_decode(header_b64))
        if payload or header != _DETACHED_HEADER:
            raise ProofError("jws must be a detached EdDSA JWS with b64=false")
        purpose = str(proof.get("proofPurpose", ""))
        method = resolver.verification_method(str(proof.get("verificationMethod", "")), purpose)
        data = header_b64.encode() + b"." + _verify_data(document, proof, limits)
    except (ValueError, KeyFormatError) as exc:
        result.fail("proof-value", f"malformed jws: {exc}")
        return result
    except CredentialError as exc:
        result.fail(exc.rule, str(exc))
        return result
    result.checks.append("verification-method")
    if not ed25519_verify(method.public_key, b64url_decode(signature_b64), data):
        result.fail("signature", f"Ed25519Signature2018 by {method.id} does not verify")
        return result
    issuer = document["issuer"]
    if method.controller != (issuer.get("id") if isinstance(issuer, Mapping) else issuer):
        result.fail("issuer-key", "proof key is not controlled by the issuer")
        return result
    result.checks.extend(["proof", "issuer-key"])
    result.verification_methods.append(method.id)
    result.controllers.append(method.controller)
    return result


def issue_jwt_vc(credential: Mapping[str, Any], *, private_key_multibase: str, kid: str) -> str:
    """VC-JWT (VC 1.1 §6.3.1): registered claims mirror the credential, `vc` carries it."""
    validate_credential_v11(credential)
    issuer = credential["issuer"]
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    issued = parse_datetime(credential["issuanceDate"])
    if issued is None:
        raise ProofError("issuanceDate must be an XML Schema dateTime")
    claims: dict[str, Any] = {"iss": issuer_id, "nbf": int(issued.timestamp()), "vc": dict(credential)}
    subject = credential.get("credentialSubject")
    if isinstance(subject, Mapping) and "id" in subject:
        claims["sub"] = subject["id"]
    if "id" in credential:
        claims["jti"] = credential["id"]
    expires = parse_datetime(credential.get("expirationDate"))
    if expires is not None:
        claims["exp"] = int(expires.timestamp())
    return sign_jws(claims, private_key_multibase=private_key_multibase, header={"alg": "EdDSA", "kid": kid})


def sign_jws(claims: Mapping[str, Any], *, private_key_multibase: str, header: Mapping[str, Any]) -> str:
    key = private_key_from_multibase(private_key_multibase)
    signing_input = (
        b64url_encode(json.dumps(dict(header), separators=(",", ":")).encode())
        + "."
        + b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode()))


def verify_jwt_vc(token: str, *, resolver: DidResolver | None = None) -> dict[str, Any]:
    """The `vc` claim of an EdDSA JWT-VC whose `kid` resolves to a key of the `iss` DID, else ProofError."""
    resolver = resolver or DidResolver()
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, KeyFormatError, AttributeError) as exc:
        raise ProofError(f"malformed JWT: {exc}") from None
    if header.get("alg") != "EdDSA" or not isinstance(header.get("kid"), str):
        raise ProofError("JWT-VC must be alg EdDSA with a kid")
    method = resolver.verification_method(header["kid"], "assertionMethod")
    if not ed25519_verify(method.public_key, signature, f"{header_b64}.{payload_b64}".encode()):
        raise ProofError("JWT-VC signature does not verify")
    if claims.get("iss") != method.controller or not isinstance(claims.get("vc"), dict):
        raise ProofError("JWT-VC iss must be the controller of the signing key and vc must be an object")
    vc: dict[str, Any] = claims["vc"]
    return vc
