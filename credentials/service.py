"""The gateway's one object for credentials: our keys, our DID, our status lists, our verifier.

It wires the pieces so the HTTP layer cannot combine them wrongly: receipts always get a revocation
entry from our own lists, verification always resolves our did:web from our own keyring (never the
network) and checks status against our own published lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from credentials.bitstring_status_list import entry_index, status_entry
from credentials.data_integrity import RDFC, VerificationResult, add_proof
from credentials.datetimes import format_datetime, now_utc
from credentials.did_auth import verify_did_auth
from credentials.dids import DidResolver
from credentials.errors import StatusListError, ValidationError
from credentials.keyring import IssuerKeyring
from credentials.rdfc import DEFAULT_LIMITS, Limits
from credentials.receipts import ConsentReceiptClaims, issue_consent_receipt
from credentials.status_list_service import publish_status_list
from credentials.status_store import StatusListRepository
from credentials.vcdm2 import validate_credential
from credentials.verification import verify_credential, verify_presentation


class CredentialService:
    """Status lists live at `<status_url_prefix>/1`, `/2`, …; a new one is opened when the last is full."""

    def __init__(
        self,
        *,
        keyring: IssuerKeyring,
        repository: StatusListRepository,
        domain: str,
        status_url_prefix: str,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.keyring = keyring
        self.repository = repository
        self.domain = domain
        self._prefix = status_url_prefix.rstrip("/")
        self.limits = limits

    @property
    def resolver(self) -> DidResolver:
        """did:key, plus our did:web from the keyring; nothing else resolves."""
        return DidResolver({self.keyring.current.did: self.keyring.did_document()})

    def did_document(self) -> dict[str, Any]:
        return self.keyring.did_document()

    def _current_list(self, conn: Connection | None) -> str | None:
        number, current = 1, None
        while True:
            url = f"{self._prefix}/{number}"
            try:
                self.repository.get_list(url, conn=conn)
            except StatusListError:
                return current
            current, number = url, number + 1

    def _allocate(self, conn: Connection | None) -> tuple[str, int]:
        url = self._current_list(conn)
        if url is not None:
            try:
                return url, self.repository.allocate(url, conn=conn)
            except StatusListError as exc:
                if "is full" not in str(exc):
                    raise
        number = 1 if url is None else int(url.rsplit("/", 1)[1]) + 1
        url = f"{self._prefix}/{number}"
        self.repository.create_list(url, conn=conn)
        return url, self.repository.allocate(url, conn=conn)

    def issue_receipt(
        self, claims: ConsentReceiptClaims, *, cryptosuite: str = RDFC, conn: Connection | None = None
    ) -> dict[str, Any]:
        """Sign a receipt with a fresh random revocation entry; pass the consent event's `conn` to allocate in it."""
        url, index = self._allocate(conn)
        return issue_consent_receipt(
            claims, issuer_key=self.keyring.current, credential_status=status_entry(url, index), cryptosuite=cryptosuite
        )

    def issue(
        self, credential: Mapping[str, Any], *, cryptosuite: str = RDFC, conn: Connection | None = None
    ) -> dict[str, Any]:
        """Sign any VC 2.0 credential as our issuer, with a fresh revocation entry from our lists.

        The caller may leave out `issuer`, `id` and `validFrom`; a different issuer or a status entry of its
        own is refused, since we would be vouching for a DID we do not control or a list we do not publish.
        """
        if "proof" in credential:
            raise ValidationError("proof", "the credential to issue must not carry a proof")
        if "credentialStatus" in credential:
            raise ValidationError("credentialStatus", "the issuer assigns the status entry; leave it out")
        issuer = credential.get("issuer", self.keyring.current.did)
        issuer_value = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        if issuer_value != self.keyring.current.did:
            raise ValidationError("issuer", f"this service issues only as {self.keyring.current.did}")
        unsigned: dict[str, Any] = {
            **credential,
            "id": credential.get("id", f"urn:uuid:{uuid.uuid4()}"),
            "issuer": issuer,
            "validFrom": credential.get("validFrom", format_datetime(now_utc())),
        }
        validate_credential(unsigned, limits=self.limits)
        url, index = self._allocate(conn)
        unsigned["credentialStatus"] = status_entry(url, index)
        key = self.keyring.current
        return add_proof(
            unsigned,
            private_key_multibase=key.private_key_multibase,
            verification_method=key.verification_method,
            cryptosuite=cryptosuite,
        )

    def revoke(self, receipt: Mapping[str, Any], *, conn: Connection | None = None) -> None:
        """Set the receipt's revocation bit; run it with the ledger's append `conn` when consent is withdrawn."""
        entry = receipt.get("credentialStatus")
        if not isinstance(entry, Mapping) or entry.get("statusPurpose") != "revocation":
            raise StatusListError("receipt has no revocation status entry")
        url = str(entry.get("statusListCredential"))
        if not url.startswith(self._prefix + "/"):
            raise StatusListError(f"{url} is not one of our status lists")
        self.repository.set_status(url, entry_index(entry), True, conn=conn)

    def status_list_credential(self, url: str, *, conn: Connection | None = None) -> dict[str, Any]:
        """The signed list to serve at `url` (GET), current as of the committed flips."""
        return publish_status_list(self.repository, url, issuer_key=self.keyring.current, conn=conn)

    def verify_credential(self, credential: Mapping[str, Any]) -> VerificationResult:
        return verify_credential(
            credential, resolver=self.resolver, status_list_lookup=self._lookup, limits=self.limits
        )

    def verify_presentation(
        self, presentation: Mapping[str, Any], *, challenge: str, domain: str | None = None
    ) -> VerificationResult:
        """`domain` is the verifier the presentation was made for: ours unless a caller verifies for another."""
        return verify_presentation(
            presentation,
            challenge=challenge,
            domain=domain or self.domain,
            resolver=self.resolver,
            status_list_lookup=self._lookup,
            limits=self.limits,
        )

    def verify_wallet_login(self, presentation: Mapping[str, Any], *, challenge: str) -> str:
        """The DID that logged in (raises DidAuthError); the caller must have consumed `challenge` once."""
        return verify_did_auth(presentation, challenge=challenge, domain=self.domain, resolver=self.resolver)

    def _lookup(self, url: str) -> dict[str, Any]:
        if not url.startswith(self._prefix + "/"):
            raise StatusListError(f"status list {url} is not ours; remote status lists are not fetched")
        return self.status_list_credential(url)
