"""W3C Data Integrity EdDSA cryptosuites v1.0: eddsa-rdfc-2022 and eddsa-jcs-2022.

Both hash the proof configuration and the unsecured document separately (SHA-256 each), concatenate
proofConfigHash || documentHash and sign that with Ed25519. They differ only in the canonical form:
RDF Dataset Canonicalization for rdfc, RFC 8785 JSON for jcs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import rfc8785

from credentials.datetimes import format_datetime, now_utc, parse_datetime
from credentials.dids import DidResolver
from credentials.errors import CanonicalizationError, CredentialError, KeyFormatError, ProofError
from credentials.keys import ed25519_verify, private_key_from_multibase
from credentials.multibase import b58decode, b58encode
from credentials.rdfc import DEFAULT_LIMITS, Limits, canonicalize, check_size

RDFC = "eddsa-rdfc-2022"
JCS = "eddsa-jcs-2022"
CRYPTOSUITES = (RDFC, JCS)
PROOF_TYPE = "DataIntegrityProof"


@dataclass(frozen=True)
class Issue:
    """One failed rule: `rule` is stable (for problem types), `message` says what was wrong."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass
class VerificationResult:
    """What was checked and what failed; `verified` only when nothing failed and something was checked."""

    checks: list[str] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verification_methods: list[str] = field(default_factory=list)
    controllers: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and not self.errors

    def fail(self, rule: str, message: str) -> None:
        self.errors.append(Issue(rule, message))

    def merge(self, other: VerificationResult) -> None:
        self.checks.extend(c for c in other.checks if c not in self.checks)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.verification_methods.extend(other.verification_methods)
        self.controllers.extend(other.controllers)


def _canonical(document: Mapping[str, Any], cryptosuite: str, limits: Limits) -> bytes:
    if cryptosuite == RDFC:
        return canonicalize(dict(document), limits).encode()
    check_size(document, limits)
    try:
        return bytes(rfc8785.dumps(document))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalizationError(f"RFC 8785 canonicalization failed: {exc}") from None


def hash_data(
    document: Mapping[str, Any], proof_config: Mapping[str, Any], cryptosuite: str, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    """proofConfigHash || transformedDocumentHash, the 64 bytes Ed25519 signs."""
    return (
        hashlib.sha256(_canonical(proof_config, cryptosuite, limits)).digest()
        + hashlib.sha256(_canonical(document, cryptosuite, limits)).digest()
    )


def _unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "proof"}


def _proofs(document: Mapping[str, Any]) -> list[Any]:
    proof = document.get("proof")
    if proof is None:
        return []
    return list(proof) if isinstance(proof, list) else [proof]


def add_proof(
    document: dict[str, Any],
    *,
    private_key_multibase: str,
    verification_method: str,
    cryptosuite: str = RDFC,
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    proof_id: str | None = None,
    previous_proof: str | list[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """A copy of `document` with one more DataIntegrityProof.

    Existing proofs form a proof set; with `previous_proof` (the `id`s of existing proofs) the new proof
    also signs over those proofs, making a proof chain (Data Integrity 1.0 §4.2).
    """
    if cryptosuite not in CRYPTOSUITES:
        raise ProofError(f"unsupported cryptosuite {cryptosuite!r}; supported: {', '.join(CRYPTOSUITES)}")
    if not isinstance(document, dict):
        raise ProofError("document must be a JSON object")
    if created is None:
        created = format_datetime(now_utc())
    elif parse_datetime(created) is None:
        raise ProofError(f"created {created!r} is not an XML Schema dateTimeStamp")
    key = private_key_from_multibase(private_key_multibase)
    existing = _proofs(document)
    unsecured = _unsecured(document)
    if previous_proof is not None:
        unsecured["proof"] = _previous_proofs(existing, previous_proof)
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": cryptosuite,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if proof_id is not None:
        proof = {"id": proof_id, **proof}
    if previous_proof is not None:
        proof["previousProof"] = previous_proof
    if challenge is not None:
        proof["challenge"] = challenge
    if domain is not None:
        proof["domain"] = domain
    config = dict(proof)
    if "@context" in unsecured:
        config["@context"] = unsecured["@context"]
        if cryptosuite == JCS:
            proof["@context"] = unsecured["@context"]
    signature = key.sign(hash_data(unsecured, config, cryptosuite, limits))
    proof["proofValue"] = "z" + b58encode(signature)
    secured = _unsecured(document)
    secured["proof"] = [*existing, proof] if existing else proof
    return secured


def _previous_proofs(proofs: list[Any], previous: Any) -> list[dict[str, Any]]:
    """The proofs a chained proof names in `previousProof`, each found by its `id` among `proofs` (§4.3)."""
    wanted = previous if isinstance(previous, list) else [previous]
    if not wanted or not all(isinstance(w, str) for w in wanted):
        raise ProofError("previousProof must be a proof id or a list of them")
    by_id: dict[str, dict[str, Any]] = {}
    for item in proofs:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            if item["id"] in by_id:
                raise ProofError(f"two proofs share the id {item['id']}")
            by_id[item["id"]] = item
    missing = [w for w in wanted if w not in by_id]
    if missing:
        raise ProofError(f"previousProof names proofs that are not in the proof set: {missing}")
    return [by_id[w] for w in wanted]


def verify_proof(
    document: Mapping[str, Any],
    *,
    resolver: DidResolver | None = None,
    expected_proof_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> VerificationResult:
    """Verify every proof on `document`; each must pass, and the purpose, challenge and domain must match.

    When `challenge`/`domain` are given the proof must carry exactly those values; a proof that carries
    them when none were expected is rejected too, since it was made for a different verifier or session.
    """
    result = VerificationResult()
    resolver = resolver or DidResolver()
    if not isinstance(document, Mapping):
        result.fail("proof", "document must be a JSON object")
        return result
    proofs = _proofs(document)
    if not proofs:
        result.fail("proof-missing", "document has no proof")
        return result
    unsecured = _unsecured(document)
    for proof in proofs:
        signed = unsecured
        if isinstance(proof, dict) and "previousProof" in proof:
            # A chained proof signed the document together with the proofs it names (Data Integrity 1.0 §4.4).
            try:
                signed = {**unsecured, "proof": _previous_proofs(proofs, proof["previousProof"])}
            except ProofError as exc:
                result.fail("previous-proof", str(exc))
                continue
            result.checks.append("previous-proof")
        _verify_one(signed, proof, result, resolver, expected_proof_purpose, challenge, domain, now, limits)
    return result


def _verify_one(
    unsecured: dict[str, Any],
    proof: Any,
    result: VerificationResult,
    resolver: DidResolver,
    purpose: str,
    challenge: str | None,
    domain: str | None,
    now: datetime | None,
    limits: Limits,
) -> None:
    if not isinstance(proof, dict):
        result.fail("proof", "proof must be a JSON object")
        return
    if proof.get("type") != PROOF_TYPE:
        result.fail("proof-type", f"proof type {proof.get('type')!r} is not {PROOF_TYPE}")
        return
    suite = proof.get("cryptosuite")
    if suite not in CRYPTOSUITES:
        result.fail("cryptosuite", f"unsupported cryptosuite {suite!r}")
        return
    if not check_proof_options(proof, result, purpose, now):
        return
    if not _matches(result, "challenge", proof.get("challenge"), challenge):
        return
    if not _matches(result, "domain", proof.get("domain"), domain):
        return
    if suite == JCS and "@context" in proof and proof["@context"] != unsecured.get("@context"):
        result.fail("proof-context", "proof @context differs from the document's")
        return
    check_signature(unsecured, proof, result, resolver, purpose, suite, limits, "Ed25519 signature")


def check_proof_options(
    proof: Mapping[str, Any], result: VerificationResult, purpose: str, now: datetime | None
) -> bool:
    """The proof's purpose and its `created` and `expires` date-times; a failure is recorded and returns False."""
    if proof.get("proofPurpose") != purpose:
        result.fail("proof-purpose", f"proofPurpose {proof.get('proofPurpose')!r}, expected {purpose!r}")
        return False
    result.checks.append("proof-purpose")
    created = proof.get("created")
    if created is not None and parse_datetime(created) is None:
        result.fail("proof-created", f"created {created!r} is not a dateTimeStamp")
        return False
    expires = proof.get("expires")
    if expires is not None:
        moment = parse_datetime(expires)
        if moment is None or moment <= (now or now_utc()):
            result.fail("proof-expired", f"proof expires {expires!r}")
            return False
    return True


def check_signature(
    unsecured: Mapping[str, Any],
    proof: Mapping[str, Any],
    result: VerificationResult,
    resolver: DidResolver,
    purpose: str,
    cryptosuite: str,
    limits: Limits,
    name: str,
) -> None:
    """The Ed25519 `proofValue` over proofConfigHash || documentHash, by a key authorized for `purpose`.

    The proof configuration is the proof without its value, with the document's `@context`; Ed25519Signature2020
    signs the same bytes as eddsa-rdfc-2022 and shares this check.
    """
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        result.fail("proof-value", "proofValue must be a base58btc multibase string")
        return
    try:
        signature = b58decode(value[1:])
        method = resolver.verification_method(proof.get("verificationMethod", ""), purpose)
        config = {k: v for k, v in proof.items() if k != "proofValue"}
        if "@context" in unsecured:
            config["@context"] = unsecured["@context"]
        data = hash_data(unsecured, config, cryptosuite, limits)
    except KeyFormatError as exc:
        result.fail("proof-value", str(exc))
        return
    except CredentialError as exc:
        result.fail(exc.rule, str(exc))
        return
    result.checks.append("verification-method")
    if len(signature) != 64 or not ed25519_verify(method.public_key, signature, data):
        result.fail("signature", f"{name} by {method.id} does not verify")
        return
    result.checks.append("proof")
    result.verification_methods.append(method.id)
    result.controllers.append(method.controller)


def _matches(result: VerificationResult, name: str, actual: Any, expected: str | None) -> bool:
    if expected is None and actual is None:
        return True
    if expected is None:
        result.fail(f"proof-{name}", f"proof carries a {name} but none was expected")
        return False
    if not isinstance(actual, str) or not hmac.compare_digest(actual.encode(), expected.encode()):
        result.fail(f"proof-{name}", f"proof {name} {actual!r} does not match the expected value")
        return False
    result.checks.append(f"proof-{name}")
    return True
