"""Consent receipts the customer holds: issued with every given or renewed consent, revoked with its withdrawal.

Both run as effects of the consent event's ledger append (`ConsentStore.grant(..., effects=...)`), so the receipt
row, its status-list entry and the ledger entry commit together: a receipt can never look valid after its
consent was withdrawn, and no receipt exists for a consent event that did not happen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from credentials import ConsentReceiptClaims, CredentialService
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.rights.errors import NotFoundError
from gateway.rights.rfc3339 import rfc3339
from gateway.store.customer_tables import consent_receipts
from policies import ConsentRecord, ConsentStatus, Taxonomy

CONSENT_BASIS_IRI = "https://w3id.org/dpv#Consent"


def ensure_customer_did(customers: CustomerStore, customer: CustomerPrincipal) -> str:
    """The DID a receipt is issued to: the customer's own, or (for a customer enrolled before every account got
    one) a custodial did:key created now, whose key the gateway keeps sealed until the customer takes it.

    A wallet DID the customer binds later replaces it for receipts issued after that.
    """
    if customer.did:
        return customer.did
    return customers.ensure_did(customer.customer_id)


def recipient_iri(recipient: str) -> str:
    kind, _, name = recipient.partition(":")
    if recipient == "any":
        return "urn:consentry:recipient:any"
    return f"urn:consentry:{kind}:{name}"


def receipt_claims(taxonomy: Taxonomy, record: ConsentRecord, subject_did: str) -> ConsentReceiptClaims:
    """ISO/IEC TS 27560 fields of the record; purposes and categories as DPV IRIs (ours when DPV has none)."""
    purposes = [taxonomy.purposes[p].dpv or f"urn:consentry:purpose:{p}" for p in record.purposes]
    categories = [taxonomy.categories[c].dpv or f"urn:consentry:category:{c}" for c in record.categories]
    assert record.ledger_index is not None and record.notice is not None
    return ConsentReceiptClaims(
        record_id=record.record_id,
        subject_did=subject_did,
        controller=f"urn:consentry:controller:{record.controller}",
        purposes=list(dict.fromkeys(purposes)),
        data_categories=list(dict.fromkeys(categories)),
        recipients=[recipient_iri(r) for r in record.recipients],
        jurisdiction=record.jurisdiction,
        legal_basis=CONSENT_BASIS_IRI,
        notice_version=record.notice.version,
        notice_hash=record.notice.sha256,
        given_at=rfc3339(record.event_time),
        ledger_index=record.ledger_index,
        valid_until=rfc3339(record.valid_until) if record.valid_until else None,
        status="renewed" if record.status is ConsentStatus.RENEWED else "given",
    )


def issuing_effect(
    credentials: CredentialService, taxonomy: Taxonomy, customer_id: str, subject_did: str, issued: list[dict[str, Any]]
) -> Callable[[Connection, ConsentRecord], None]:
    """An effect that signs the receipt of the new state and stores it; the credential is appended to `issued`."""

    def effect(conn: Connection, record: ConsentRecord) -> None:
        credential = credentials.issue_receipt(receipt_claims(taxonomy, record, subject_did), conn=conn)
        entry = credential["credentialStatus"]
        conn.execute(
            insert(consent_receipts).values(
                receipt_id=credential["id"],
                customer_id=customer_id,
                record_id=record.record_id,
                ledger_index=record.ledger_index,
                status_list_url=entry["statusListCredential"],
                status_index=int(entry["statusListIndex"]),
                credential=json.dumps(credential, ensure_ascii=False),
                issued_at=record.event_time,
            )
        )
        issued.append(credential)

    return effect


def revoking_effect(credentials: CredentialService, revoked: list[str]) -> Callable[[Connection, ConsentRecord], None]:
    """An effect that revokes every live receipt of the record in the withdrawal's own transaction."""

    def effect(conn: Connection, record: ConsentRecord) -> None:
        rows = conn.execute(
            select(consent_receipts.c.receipt_id, consent_receipts.c.credential).where(
                and_(consent_receipts.c.record_id == record.record_id, consent_receipts.c.revoked_at.is_(None))
            )
        ).all()
        for receipt_id, credential in rows:
            credentials.revoke(json.loads(credential), conn=conn)
            conn.execute(
                update(consent_receipts)
                .where(consent_receipts.c.receipt_id == receipt_id)
                .values(revoked_at=record.event_time, revoked_ledger_index=record.ledger_index)
            )
            revoked.append(receipt_id)

    return effect


@dataclass(frozen=True)
class ReceiptSummary:
    receipt_id: str
    record_id: str
    status: str  # "valid" or "revoked", read live from the status list
    issued_at: datetime
    ledger_index: int
    revoked_at: datetime | None
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    valid_until: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "record_id": self.record_id,
            "status": self.status,
            "issued_at": rfc3339(self.issued_at),
            "ledger_index": self.ledger_index,
            "revoked_at": rfc3339(self.revoked_at) if self.revoked_at else None,
            "purposes": list(self.purposes),
            "categories": list(self.categories),
            "valid_until": self.valid_until,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def list_receipts(engine: Engine, credentials: CredentialService, customer: CustomerPrincipal) -> list[ReceiptSummary]:
    """The customer's receipts, newest first, each with its live status from the published status list."""
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(consent_receipts)
                .where(consent_receipts.c.customer_id == customer.customer_id)
                .order_by(consent_receipts.c.issued_at.desc(), consent_receipts.c.ledger_index.desc())
            )
            .mappings()
            .all()
        )
    summaries = []
    for row in rows:
        consent = json.loads(row["credential"])["credentialSubject"]["consent"]
        revoked = credentials.repository.get_status(row["status_list_url"], row["status_index"])
        summaries.append(
            ReceiptSummary(
                receipt_id=row["receipt_id"],
                record_id=row["record_id"],
                status="revoked" if revoked else "valid",
                issued_at=_aware(row["issued_at"]),
                ledger_index=int(row["ledger_index"]),
                revoked_at=_aware(row["revoked_at"]) if row["revoked_at"] else None,
                purposes=tuple(consent["purposes"]),
                categories=tuple(consent["dataCategories"]),
                valid_until=consent.get("consentValidUntil"),
            )
        )
    return summaries


def get_receipt(engine: Engine, customer: CustomerPrincipal, receipt_id: str) -> dict[str, Any]:
    """The signed credential, exactly as issued; someone else's receipt is 'not found'."""
    with engine.connect() as conn:
        credential = conn.execute(
            select(consent_receipts.c.credential).where(
                and_(
                    consent_receipts.c.receipt_id == receipt_id, consent_receipts.c.customer_id == customer.customer_id
                )
            )
        ).scalar_one_or_none()
    if credential is None:
        raise NotFoundError("receipt")
    result: dict[str, Any] = json.loads(credential)
    return result
