"""Selective Disclosure for JWTs (RFC 9901) and the SD-JWT VC profile (`dc+sd-jwt`, `vct`).

The issuer signs digests of salted disclosures; the holder reveals only the disclosures it chooses
(the VIN, not the national ID) and, when the credential is key-bound (`cnf`), proves possession with a
Key Binding JWT over this exact presentation (`sd_hash`) for this verifier (`aud`) and session (`nonce`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from credentials.errors import KeyFormatError, SdJwtError
from credentials.keys import private_key_from_multibase, public_key_from_jwk
from credentials.multibase import b64url_decode, b64url_encode

SD_JWT_VC_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


def _b64_json(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(dict(value), separators=(",", ":")).encode())


def _sign(header: Mapping[str, Any], payload: Mapping[str, Any], private_key_multibase: str) -> str:
    signing_input = _b64_json(header) + "." + _b64_json(payload)
    signature = private_key_from_multibase(private_key_multibase).sign(signing_input.encode())
    return signing_input + "." + b64url_encode(signature)


def digest(disclosure: str) -> str:
    """base64url(SHA-256(ASCII(disclosure))), the value placed in `_sd` or `...`."""
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(name: str | None, value: Any, salt: str | None = None) -> str:
    """[salt, name, value] for an object property, [salt, value] for an array element."""
    salt = salt or b64url_encode(secrets.token_bytes(16))
    items = [salt, value] if name is None else [salt, name, value]
    return b64url_encode(json.dumps(items, ensure_ascii=False).encode())


def issue_sd_jwt(
    claims: Mapping[str, Any],
    *,
    disclosable: Iterable[str],
    private_key_multibase: str,
    issuer: str,
    kid: str,
    vct: str,
    holder_jwk: Mapping[str, Any] | None = None,
    iat: int | None = None,
    exp: int | None = None,
) -> str:
    """An SD-JWT VC (`<jwt>~<disclosure>~...~`) where each claim in `disclosable` is hidden behind a digest."""
    hidden = set(disclosable)
    missing = hidden - set(claims)
    if missing:
        raise SdJwtError(f"disclosable claims not present: {sorted(missing)}")
    reserved = {"iss", "vct", "cnf", "iat", "exp", "nbf", "status", "_sd", "_sd_alg", "..."} & (set(claims) | hidden)
    if reserved:
        raise SdJwtError(f"claims use reserved names: {sorted(reserved)}")
    payload: dict[str, Any] = {k: v for k, v in claims.items() if k not in hidden}
    disclosures = [make_disclosure(name, claims[name]) for name in sorted(hidden)]
    if disclosures:
        payload["_sd"] = sorted(digest(d) for d in disclosures)
    payload.update(
        {"iss": issuer, "vct": vct, "iat": iat if iat is not None else int(time.time()), "_sd_alg": "sha-256"}
    )
    if exp is not None:
        payload["exp"] = exp
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    jwt = _sign({"alg": "EdDSA", "typ": SD_JWT_VC_TYP, "kid": kid}, payload, private_key_multibase)
    return "~".join([jwt, *disclosures]) + "~"


def split(sd_jwt: str) -> tuple[str, list[str], str | None]:
    """(issuer JWT, disclosures, key binding JWT or None) of the compact serialization."""
    if not isinstance(sd_jwt, str) or "~" not in sd_jwt:
        raise SdJwtError("an SD-JWT is '<jwt>~' followed by disclosures and an optional KB-JWT")
    parts = sd_jwt.split("~")
    kb = parts[-1] or None
    return parts[0], [d for d in parts[1:-1]], kb


def present(
    sd_jwt: str,
    *,
    disclose: Iterable[str],
    holder_private_key_multibase: str | None = None,
    audience: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
) -> str:
    """The holder's presentation: the chosen top-level claims, plus a KB-JWT when a holder key is given."""
    jwt, disclosures, _ = split(sd_jwt)
    wanted = set(disclose)
    chosen = []
    for disclosure in disclosures:
        item = _decode_disclosure(disclosure)
        if len(item) == 3 and item[1] in wanted:
            chosen.append(disclosure)
            wanted.discard(item[1])
    if wanted:
        raise SdJwtError(f"no disclosure for claims {sorted(wanted)}")
    presentation = "~".join([jwt, *chosen]) + "~"
    if holder_private_key_multibase is None:
        return presentation
    if audience is None or nonce is None:
        raise SdJwtError("key binding needs the verifier's audience and nonce")
    kb_payload = {
        "iat": iat if iat is not None else int(time.time()),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": digest(presentation),
    }
    return presentation + _sign({"alg": "EdDSA", "typ": KB_JWT_TYP}, kb_payload, holder_private_key_multibase)


def _decode_disclosure(disclosure: str) -> list[Any]:
    try:
        item = json.loads(b64url_decode(disclosure))
    except (KeyFormatError, ValueError) as exc:
        raise SdJwtError(f"disclosure is not base64url JSON: {exc}") from None
    if not isinstance(item, list) or len(item) not in (2, 3) or not isinstance(item[0], str):
        raise SdJwtError("a disclosure is [salt, value] or [salt, name, value]")
    if len(item) == 3 and (not isinstance(item[1], str) or item[1] in ("_sd", "...")):
        raise SdJwtError(f"disclosure claim name {item[1]!r} is not allowed")
    return item


def _parse_jws(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        payload = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, KeyFormatError) as exc:
        raise SdJwtError(f"malformed JWS: {exc}") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SdJwtError("JWS header and payload must be JSON objects")
    return header, payload, signature, f"{header_b64}.{payload_b64}".encode()


def _verify_signature(alg: Any, key: PublicKey, signature: bytes, signing_input: bytes) -> None:
    try:
        if alg == "EdDSA" and isinstance(key, Ed25519PublicKey):
            key.verify(signature, signing_input)
            return
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature:
        raise SdJwtError("signature does not verify") from None
    raise SdJwtError(f"algorithm {alg!r} does not match the key type (EdDSA with Ed25519, ES256 with P-256)")


def public_key_from_any_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Ed25519 (OKP) or P-256 (EC) public JWK."""
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        try:
            x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except (KeyError, ValueError, KeyFormatError) as exc:
            raise SdJwtError(f"invalid P-256 JWK: {exc}") from None
    try:
        return public_key_from_jwk(dict(jwk))
    except KeyFormatError as exc:
        raise SdJwtError(str(exc)) from None


def verify(
    presentation: str,
    *,
    issuer_key: PublicKey,
    expected_issuer: str | None = None,
    require_key_binding: bool = False,
    audience: str | None = None,
    nonce: str | None = None,
    now: int | None = None,
    max_kb_age: int = 300,
) -> dict[str, Any]:
    """RFC 9901 §7: the processed claims (undisclosed ones absent), or SdJwtError naming the failure."""
    jwt, disclosures, kb = split(presentation)
    header, payload, signature, signing_input = _parse_jws(jwt)
    if header.get("alg") in (None, "none"):
        raise SdJwtError("unsigned SD-JWT")
    _verify_signature(header.get("alg"), issuer_key, signature, signing_input)
    moment = now if now is not None else int(time.time())
    if expected_issuer is not None and payload.get("iss") != expected_issuer:
        raise SdJwtError(f"iss {payload.get('iss')!r} is not the expected issuer")
    if isinstance(payload.get("exp"), int | float) and moment >= payload["exp"]:
        raise SdJwtError("SD-JWT has expired")
    if isinstance(payload.get("nbf"), int | float) and moment < payload["nbf"]:
        raise SdJwtError("SD-JWT is not yet valid")
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise SdJwtError(f"unsupported _sd_alg {payload.get('_sd_alg')!r}")
    by_digest: dict[str, list[Any]] = {}
    for disclosure in disclosures:
        key = digest(disclosure)
        if key in by_digest:
            raise SdJwtError("the same disclosure appears twice")
        by_digest[key] = _decode_disclosure(disclosure)
    used: set[str] = set()
    claims: dict[str, Any] = _process(payload, by_digest, used)
    unused = set(by_digest) - used
    if unused:
        raise SdJwtError(f"{len(unused)} disclosure(s) are not referenced by the SD-JWT")
    claims.pop("_sd_alg", None)
    if kb is not None or require_key_binding:
        _check_key_binding(payload, presentation, kb, audience, nonce, moment, max_kb_age)
    return claims


def _process(node: Any, by_digest: dict[str, list[Any]], used: set[str]) -> Any:
    if isinstance(node, list):
        out = []
        for item in node:
            if isinstance(item, dict) and set(item) == {"..."}:
                found = _take(item["..."], by_digest, used)
                if found is not None:
                    if len(found) != 2:
                        raise SdJwtError("an array element disclosure must be [salt, value]")
                    out.append(_process(found[1], by_digest, used))
                continue
            out.append(_process(item, by_digest, used))
        return out
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "_sd":
            continue
        result[key] = _process(value, by_digest, used)
    sd = node.get("_sd", [])
    if not isinstance(sd, list):
        raise SdJwtError("_sd must be an array of digests")
    for entry in sd:
        found = _take(entry, by_digest, used)
        if found is None:
            continue
        if len(found) != 3:
            raise SdJwtError("an object property disclosure must be [salt, name, value]")
        if found[1] in result:
            raise SdJwtError(f"disclosed claim {found[1]!r} already exists")
        result[found[1]] = _process(found[2], by_digest, used)
    return result


def _take(entry: Any, by_digest: dict[str, list[Any]], used: set[str]) -> list[Any] | None:
    if not isinstance(entry, str):
        raise SdJwtError("digests must be strings")
    if entry in used:
        raise SdJwtError("a digest appears more than once")
    found = by_digest.get(entry)
    if found is not None:
        used.add(entry)
    return found


def _check_key_binding(
    payload: Mapping[str, Any],
    presentation: str,
    kb: str | None,
    audience: str | None,
    nonce: str | None,
    now: int,
    max_age: int,
) -> None:
    cnf = payload.get("cnf")
    if kb is None:
        raise SdJwtError("key binding is required but the presentation has no KB-JWT")
    if not isinstance(cnf, Mapping) or not isinstance(cnf.get("jwk"), Mapping):
        raise SdJwtError("KB-JWT present but the SD-JWT binds no holder key (cnf.jwk)")
    header, kb_payload, signature, signing_input = _parse_jws(kb)
    if header.get("typ") != KB_JWT_TYP:
        raise SdJwtError(f"KB-JWT typ must be {KB_JWT_TYP}")
    _verify_signature(header.get("alg"), public_key_from_any_jwk(cnf["jwk"]), signature, signing_input)
    if audience is None or kb_payload.get("aud") != audience:
        raise SdJwtError("KB-JWT aud does not match this verifier")
    if nonce is None or kb_payload.get("nonce") != nonce:
        raise SdJwtError("KB-JWT nonce does not match this session")
    iat = kb_payload.get("iat")
    if not isinstance(iat, int) or not now - max_age <= iat <= now + 60:
        raise SdJwtError("KB-JWT iat is outside the accepted window")
    if kb_payload.get("sd_hash") != digest(presentation[: len(presentation) - len(kb)]):
        raise SdJwtError("KB-JWT sd_hash does not match the presented SD-JWT")
