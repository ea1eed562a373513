"""Consent receipts: a consent record's ISO/IEC TS 27560 fields as a VC 2.0 credential.

The receipt is the customer's evidence: it names the controller, the purposes and data categories
(DPV IRIs), recipients, jurisdiction, legal basis, the notice shown (version and hash), the validity,
and the ledger index of the consent event so an auditor can find the event in the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from credentials.contexts import CONSENTRY_V1, VC_V2
from credentials.data_integrity import RDFC, add_proof
from credentials.datetimes import parse_datetime
from credentials.dids import did_key_from_multibase, did_key_verification_method
from credentials.errors import ValidationError
from credentials.keys import key_pair_from_private, private_key_from_multibase
from credentials.vcdm2 import is_url

RECEIPT_TYPE = "ConsentReceiptCredential"


@dataclass(frozen=True)
class IssuerKey:
    """The controller's signing identity: a DID, one of its key URLs, and that key's secret."""

    did: str
    verification_method: str
    private_key_multibase: str

    def __repr__(self) -> str:
        return f"IssuerKey(did={self.did!r}, verification_method={self.verification_method!r})"

    @classmethod
    def did_key(cls, private_key_multibase: str) -> IssuerKey:
        public = key_pair_from_private(private_key_from_multibase(private_key_multibase)).public_key_multibase
        return cls(did_key_from_multibase(public), did_key_verification_method(public), private_key_multibase)

    @classmethod
    def did_web(cls, did: str, private_key_multibase: str) -> IssuerKey:
        """Key URLs of our did:web documents use the public key multibase as fragment (see did_web_document)."""
        public = key_pair_from_private(private_key_from_multibase(private_key_multibase)).public_key_multibase
        return cls(did, f"{did}#{public}", private_key_multibase)


@dataclass(frozen=True)
class ConsentReceiptClaims:
    """The fields of one consent record (given or renewed) that the receipt attests."""

    record_id: str
    subject_did: str
    controller: str
    purposes: Sequence[str]
    data_categories: Sequence[str]
    recipients: Sequence[str]
    jurisdiction: str
    legal_basis: str
    notice_version: str
    notice_hash: str
    given_at: str
    ledger_index: int
    valid_until: str | None = None
    status: str = "given"

    def validate(self) -> None:
        for name in ("subject_did", "controller", "legal_basis"):
            if not is_url(getattr(self, name)):
                raise ValidationError("receipt-claims", f"{name} must be an absolute IRI")
        for name in ("purposes", "data_categories", "recipients"):
            values = getattr(self, name)
            if isinstance(values, str) or not all(is_url(v) for v in values):
                raise ValidationError(
                    "receipt-claims", f"{name} must be a list of absolute IRIs (DPV terms for purposes and categories)"
                )
        if not self.purposes or not self.data_categories:
            raise ValidationError("receipt-claims", "a consent names at least one purpose and one data category")
        if parse_datetime(self.given_at) is None:
            raise ValidationError("receipt-claims", "given_at must be an RFC 3339 date-time with zone")
        if self.valid_until is not None and parse_datetime(self.valid_until) is None:
            raise ValidationError("receipt-claims", "valid_until must be an RFC 3339 date-time with zone")
        if isinstance(self.ledger_index, bool) or not isinstance(self.ledger_index, int) or self.ledger_index < 0:
            raise ValidationError("receipt-claims", "ledger_index must be a non-negative integer")
        if self.status not in ("given", "renewed"):
            raise ValidationError("receipt-claims", "receipts are issued only when consent is given or renewed")
        if not self.record_id or not self.jurisdiction or not self.notice_version or not self.notice_hash:
            raise ValidationError(
                "receipt-claims", "record_id, jurisdiction, notice_version and notice_hash are required"
            )

    def consent_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "type": "ConsentRecord",
            "recordId": self.record_id,
            "consentStatus": self.status,
            "dataController": self.controller,
            "purposes": list(self.purposes),
            "dataCategories": list(self.data_categories),
            "recipients": list(self.recipients),
            "jurisdiction": self.jurisdiction,
            "legalBasis": self.legal_basis,
            "noticeVersion": self.notice_version,
            "noticeHash": self.notice_hash,
            "consentGivenAt": self.given_at,
            "ledgerIndex": self.ledger_index,
        }
        if self.valid_until is not None:
            record["consentValidUntil"] = self.valid_until
        return record


def build_consent_receipt(
    claims: ConsentReceiptClaims,
    *,
    issuer: str,
    credential_status: Mapping[str, Any] | None,
    credential_id: str | None = None,
) -> dict[str, Any]:
    """The unsigned VC 2.0 receipt."""
    claims.validate()
    credential: dict[str, Any] = {
        "@context": [VC_V2, CONSENTRY_V1],
        "id": credential_id or f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", RECEIPT_TYPE],
        "issuer": issuer,
        "validFrom": claims.given_at,
        "credentialSubject": {"id": claims.subject_did, "consent": claims.consent_record()},
    }
    if claims.valid_until is not None:
        credential["validUntil"] = claims.valid_until
    if credential_status is not None:
        credential["credentialStatus"] = dict(credential_status)
    return credential


def issue_consent_receipt(
    claims: ConsentReceiptClaims,
    *,
    issuer_key: IssuerKey,
    credential_status: Mapping[str, Any] | None,
    credential_id: str | None = None,
    cryptosuite: str = RDFC,
    created: str | None = None,
) -> dict[str, Any]:
    """Build and sign a receipt. Pass the revocation entry from the status list so withdrawal is visible."""
    unsigned = build_consent_receipt(
        claims, issuer=issuer_key.did, credential_status=credential_status, credential_id=credential_id
    )
    return add_proof(
        unsigned,
        private_key_multibase=issuer_key.private_key_multibase,
        verification_method=issuer_key.verification_method,
        cryptosuite=cryptosuite,
        created=created,
    )
