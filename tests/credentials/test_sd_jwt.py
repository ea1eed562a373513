"""SD-JWT (RFC 9901) and SD-JWT VC: the specification's examples, then our own issuance."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credentials import SdJwtError, generate_key_pair, public_key_from_multibase
from credentials.keys import public_jwk
from credentials.sd_jwt import digest, issue_sd_jwt, present, public_key_from_any_jwk, split, verify

# RFC 9901 Appendix A.5 example issuer key and §5.1 issuer-signed JWT with its disclosures.
RFC_ISSUER_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
    "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8",
}
RFC_JWT = (
    "eyJhbGciOiAiRVMyNTYiLCAidHlwIjogImV4YW1wbGUrc2Qtand0In0."
    "eyJfc2QiOiBbIkNyUWU3UzVrcUJBSHQtbk1ZWGdjNmJkdDJTSDVhVFkxc1VfTS1QZ2tq"
    "UEkiLCAiSnpZakg0c3ZsaUgwUjNQeUVNZmVadTZKdDY5dTVxZWhabzdGN0VQWWxTRSIs"
    "ICJQb3JGYnBLdVZ1Nnh5bUphZ3ZrRnNGWEFiUm9jMkpHbEFVQTJCQTRvN2NJIiwgIlRH"
    "ZjRvTGJnd2Q1SlFhSHlLVlFaVTlVZEdFMHc1cnREc3JaemZVYW9tTG8iLCAiWFFfM2tQ"
    "S3QxWHlYN0tBTmtxVlI2eVoyVmE1TnJQSXZQWWJ5TXZSS0JNTSIsICJYekZyendzY002"
    "R242Q0pEYzZ2Vks4QmtNbmZHOHZPU0tmcFBJWmRBZmRFIiwgImdiT3NJNEVkcTJ4Mkt3"
    "LXc1d1BFemFrb2I5aFYxY1JEMEFUTjNvUUw5Sk0iLCAianN1OXlWdWx3UVFsaEZsTV8z"
    "Smx6TWFTRnpnbGhRRzBEcGZheVF3TFVLNCJdLCAiaXNzIjogImh0dHBzOi8vaXNzdWVy"
    "LmV4YW1wbGUuY29tIiwgImlhdCI6IDE2ODMwMDAwMDAsICJleHAiOiAxODgzMDAwMDAw"
    "LCAic3ViIjogInVzZXJfNDIiLCAibmF0aW9uYWxpdGllcyI6IFt7Ii4uLiI6ICJwRm5k"
    "amtaX1ZDem15VGE2VWpsWm8zZGgta284YUlLUWM5RGxHemhhVllvIn0sIHsiLi4uIjog"
    "IjdDZjZKa1B1ZHJ5M2xjYndIZ2VaOGtoQXYxVTFPU2xlclAwVmtCSnJXWjAifV0sICJf"
    "c2RfYWxnIjogInNoYS0yNTYiLCAiY25mIjogeyJqd2siOiB7Imt0eSI6ICJFQyIsICJj"
    "cnYiOiAiUC0yNTYiLCAieCI6ICJUQ0FFUjE5WnZ1M09IRjRqNFc0dmZTVm9ISVAxSUxp"
    "bERsczd2Q2VHZW1jIiwgInkiOiAiWnhqaVdXYlpNUUdIVldLVlE0aGJTSWlyc1ZmdWVj"
    "Q0U2dDRqVDlGMkhaUSJ9fX0."
    "MczwjBFGtzf-6WMT-hIvYbkb11NrV1WMO-jTijpMPNbswNzZ87wY2uHz-CXo6R04b7jYrpj9mNRAvVssXou1iw"
)
GIVEN_NAME = "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd"
FAMILY_NAME = "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd"
ADDRESS = (
    "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5Ijog"
    "IkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0"
)
NATIONALITY_US = "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0"
EMAIL = "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ"


def test_disclosure_digests_match_the_specification() -> None:
    # §4.2 examples (object property and array element), then digests listed in the §5.1 payload.
    assert digest("WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0") == "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"
    assert digest(GIVEN_NAME) == "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4"
    assert digest(NATIONALITY_US) == "pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo"
    assert digest("WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0") == (
        "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"
    )


def test_section_5_2_presentation_verifies_with_the_example_issuer_key() -> None:
    presentation = "~".join([RFC_JWT, FAMILY_NAME, ADDRESS, GIVEN_NAME, NATIONALITY_US]) + "~"
    claims = verify(presentation, issuer_key=public_key_from_any_jwk(RFC_ISSUER_JWK), now=1683000001)
    assert claims["given_name"] == "John" and claims["family_name"] == "Doe"
    assert claims["address"]["street_address"] == "123 Main St"
    assert claims["nationalities"] == ["US"]
    assert claims["iss"] == "https://issuer.example.com" and claims["sub"] == "user_42"
    assert not {"email", "phone_number", "birthdate", "_sd", "_sd_alg"} & set(claims)


def test_specification_example_rejects_tampering_and_bad_disclosures() -> None:
    key = public_key_from_any_jwk(RFC_ISSUER_JWK)
    tampered = RFC_JWT.replace("MczwjBFGtzf", "XczwjBFGtzf")
    with pytest.raises(SdJwtError, match="signature"):
        verify(tampered + "~", issuer_key=key, now=1683000001)
    with pytest.raises(SdJwtError, match="not referenced"):
        verify(RFC_JWT + "~WyJkdW1teXNhbHQiLCAiZm9vIiwgImJhciJd~", issuer_key=key, now=1683000001)
    with pytest.raises(SdJwtError, match="twice"):
        verify(f"{RFC_JWT}~{EMAIL}~{EMAIL}~", issuer_key=key, now=1683000001)
    with pytest.raises(SdJwtError, match="expired"):
        verify(RFC_JWT + "~", issuer_key=key, now=1883000000)
    with pytest.raises(SdJwtError, match="no KB-JWT"):
        verify(RFC_JWT + "~", issuer_key=key, now=1683000001, require_key_binding=True)


ISSUER = "https://consentry.example"
VCT = "https://consentry.example/vct/vehicle-owner"


def _issue(holder_jwk: dict[str, str] | None = None) -> tuple[str, Ed25519PublicKey]:
    issuer_key = generate_key_pair()
    token = issue_sd_jwt(
        {"sub": "did:example:alice", "vin": "LSVAU033512345678", "national_id": "110101199003071234", "name": "Li Wei"},
        disclosable=["vin", "national_id", "name"],
        private_key_multibase=issuer_key.private_key_multibase,
        issuer=ISSUER,
        kid=f"did:web:consentry.example#{issuer_key.public_key_multibase}",
        vct=VCT,
        holder_jwk=holder_jwk,
    )
    return token, public_key_from_multibase(issuer_key.public_key_multibase)


def test_holder_shows_the_vin_without_the_national_id() -> None:
    token, key = _issue()
    jwt, disclosures, kb = split(token)
    assert len(disclosures) == 3 and kb is None
    assert "LSVAU" not in jwt and "1101011990" not in jwt
    shown = present(token, disclose=["vin"])
    claims = verify(shown, issuer_key=key, expected_issuer=ISSUER)
    assert claims["vin"] == "LSVAU033512345678" and claims["vct"] == VCT
    assert "national_id" not in claims and "name" not in claims


def test_key_binding_ties_the_presentation_to_verifier_and_nonce() -> None:
    wallet = generate_key_pair()
    token, key = _issue(public_jwk(public_key_from_multibase(wallet.public_key_multibase)))
    shown = present(
        token,
        disclose=["vin"],
        holder_private_key_multibase=wallet.private_key_multibase,
        audience="https://dealer.example",
        nonce="n-1",
    )
    claims = verify(shown, issuer_key=key, require_key_binding=True, audience="https://dealer.example", nonce="n-1")
    assert claims["cnf"]["jwk"]["crv"] == "Ed25519"
    with pytest.raises(SdJwtError, match="aud"):
        verify(shown, issuer_key=key, audience="https://other.example", nonce="n-1")
    with pytest.raises(SdJwtError, match="nonce"):
        verify(shown, issuer_key=key, audience="https://dealer.example", nonce="n-2")
    jwt, _disclosures, kb = split(shown)
    widened = "~".join([jwt, *split(token)[1], kb or ""])
    with pytest.raises(SdJwtError, match="sd_hash"):
        verify(widened, issuer_key=key, audience="https://dealer.example", nonce="n-1")
    stale = present(
        token,
        disclose=["vin"],
        holder_private_key_multibase=wallet.private_key_multibase,
        audience="https://dealer.example",
        nonce="n-1",
        iat=int(time.time()) - 3600,
    )
    with pytest.raises(SdJwtError, match="iat"):
        verify(stale, issuer_key=key, audience="https://dealer.example", nonce="n-1")
    thief = generate_key_pair()
    stolen = present(
        token,
        disclose=["vin"],
        holder_private_key_multibase=thief.private_key_multibase,
        audience="https://dealer.example",
        nonce="n-1",
    )
    with pytest.raises(SdJwtError, match="signature"):
        verify(stolen, issuer_key=key, audience="https://dealer.example", nonce="n-1")


def test_issuance_refuses_reserved_or_missing_claims() -> None:
    pair = generate_key_pair()
    common = {"private_key_multibase": pair.private_key_multibase, "issuer": ISSUER, "kid": "k", "vct": VCT}
    with pytest.raises(SdJwtError, match="not present"):
        issue_sd_jwt({"vin": "x"}, disclosable=["national_id"], **common)
    with pytest.raises(SdJwtError, match="reserved"):
        issue_sd_jwt({"_sd": ["x"]}, disclosable=[], **common)
