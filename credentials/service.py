"""The gateway's one object for credentials: our keys, our DIDs, our status lists, our verifier.

It wires the pieces so the HTTP layer cannot combine them wrongly: receipts always get a revocation
entry from our own lists, indexes in our lists are only ever allocated here, verification always resolves
our did:web from our own keyring (never the network) and checks status against our own published lists.
We sign as our did:web or, on request, as the current key's did:key; each identity has its own lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from credentials.bitstring_status_list import entry_index, status_entry, validate_entry
from credentials.data_integrity import RDFC, VerificationResult, add_proof
from credentials.datetimes import format_datetime, now_utc
from credentials.did_auth import verify_did_auth
from credentials.dids import DidResolver, did_key_from_multibase
from credentials.errors import KeyFormatError, StatusListError, ValidationError
from credentials.keyring import IssuerKeyring
from credentials.rdfc import DEFAULT_LIMITS, Limits
from credentials.receipts import ConsentReceiptClaims, IssuerKey, issue_consent_receipt
from credentials.status_list_service import publish_status_list
from credentials.status_store import IssuedEntry, StatusListRepository
from credentials.vcdm2 import validate_credential
from credentials.verification import verify_credential, verify_presentation

ENTRY_TYPE = "BitstringStatusListEntry"
ALLOCATED_PURPOSES = ("revocation", "suspension")
MAX_CREDENTIAL_ID = 500  # the width of the issued-entries column


class CredentialService:
    """Status lists live at `<status_url_prefix>/1`, `/2`, … (did:web revocation), `<prefix>/suspension/N`, and
    `<prefix>/did-key/<key>/…` for a did:key issuer; a new one is opened when the last is full."""

    def __init__(
        self,
        *,
        keyring: IssuerKeyring,
        repository: StatusListRepository,
        domain: str,
        status_url_prefix: str,
        limits: Limits = DEFAULT_LIMITS,
        receipt_issuer: str = "did:web",
    ) -> None:
        if receipt_issuer not in ("did:web", "did:key"):
            raise ValueError(f"receipts are issued as did:web or did:key, not {receipt_issuer!r}")
        self.keyring = keyring
        self.receipt_issuer = receipt_issuer
        self.repository = repository
        self.domain = domain
        self._prefix = status_url_prefix.rstrip("/")
        self.limits = limits

    @property
    def resolver(self) -> DidResolver:
        """did:key, plus our did:web from the keyring; nothing else resolves."""
        return DidResolver({self.keyring.current.did: self.did_document()})

    def did_document(self) -> dict[str, Any]:
        """Our did:web document; `alsoKnownAs` (DID Core §5.1.3) names the did:key of every issuer key.

        A verifier that resolves only did:key can check what we sign as a did:key, and one that reads our
        did:web learns that those did:keys are the same issuer.
        """
        document = self.keyring.did_document()
        document["alsoKnownAs"] = [did_key_from_multibase(k) for k in self.keyring.public_keys_multibase]
        return document

    def issuer_key(self, issuer: Any = None) -> IssuerKey:
        """Who signs a credential naming `issuer`: our did:web (the default) or the current key's did:key."""
        value = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        web, key = self.keyring.current, self.keyring.did_key()
        if value is None or value == web.did:
            return web
        if value == key.did:
            return key
        raise ValidationError("issuer", f"this service issues only as {web.did} or as {key.did}")

    def _family(self, issuer: IssuerKey, purpose: str) -> str:
        """The URL stem of the lists one issuer identity keeps for one purpose: the list's issuer must be the
        credential's (Bitstring Status List §3.2), so a did:key issuer has lists of its own."""
        base = self._prefix
        if issuer.did.startswith("did:key:"):
            base = f"{base}/did-key/{issuer.did.removeprefix('did:key:')}"
        return base if purpose == "revocation" else f"{base}/{purpose}"

    def _current_list(self, family: str, conn: Connection | None) -> str | None:
        number, current = 1, None
        while True:
            url = f"{family}/{number}"
            try:
                self.repository.get_list(url, conn=conn)
            except StatusListError:
                return current
            current, number = url, number + 1

    def _allocate(self, family: str, purpose: str, conn: Connection | None) -> tuple[str, int]:
        url = self._current_list(family, conn)
        if url is not None:
            try:
                return url, self.repository.allocate(url, conn=conn)
            except StatusListError as exc:
                if "is full" not in str(exc):
                    raise
        number = 1 if url is None else int(url.rsplit("/", 1)[1]) + 1
        url = f"{family}/{number}"
        self.repository.create_list(url, purpose=purpose, conn=conn)
        return url, self.repository.allocate(url, conn=conn)

    def _status_entries(
        self, requested: Any, issuer: IssuerKey, conn: Connection | None
    ) -> tuple[list[dict[str, Any]], list[IssuedEntry]]:
        """The credential's status entries: ours allocated for each `{type, statusPurpose}` asked for (a revocation
        entry when nothing was asked), and complete entries of someone else's lists kept as validated."""
        asked = [{"type": ENTRY_TYPE, "statusPurpose": "revocation"}] if requested is None else requested
        items = asked if isinstance(asked, list) else [asked]
        if not items:
            raise ValidationError("credentialStatus", "credentialStatus must not be an empty list")
        entries: list[dict[str, Any]] = []
        ours: list[IssuedEntry] = []
        for item in items:
            if isinstance(item, Mapping) and "statusListCredential" in item:
                validate_entry(item)
                if str(item["statusListCredential"]).startswith(self._prefix + "/"):
                    raise ValidationError(
                        "credentialStatus-list",
                        "indexes in our own lists are allocated by this issuer: give only type and statusPurpose",
                    )
                entries.append(dict(item))
                continue
            if not isinstance(item, Mapping) or item.get("type") != ENTRY_TYPE:
                raise ValidationError("credentialStatus-type", f"credentialStatus type must be {ENTRY_TYPE}")
            purpose = item.get("statusPurpose")
            if purpose not in ALLOCATED_PURPOSES:
                raise ValidationError(
                    "credentialStatus-purpose", f"this issuer keeps lists for {' and '.join(ALLOCATED_PURPOSES)}"
                )
            if any(entry.purpose == purpose for entry in ours):
                raise ValidationError("credentialStatus-purpose", f"one {purpose} entry per credential")
            url, index = self._allocate(self._family(issuer, purpose), purpose, conn)
            entries.append(status_entry(url, index, purpose))
            ours.append(IssuedEntry(url, index, purpose))
        return entries, ours

    def issue_receipt(
        self,
        claims: ConsentReceiptClaims,
        *,
        cryptosuite: str = RDFC,
        conn: Connection | None = None,
        issuer: str | None = None,
    ) -> dict[str, Any]:
        """Sign a receipt with a fresh random revocation entry; pass the consent event's `conn` to allocate in it.

        `issuer` picks our did:web or the current key's did:key, as for `issue`; by default the service's
        `receipt_issuer`.
        """
        if issuer is None and self.receipt_issuer == "did:key":
            issuer = self.keyring.did_key().did
        key = self.issuer_key(issuer)
        url, index = self._allocate(self._family(key, "revocation"), "revocation", conn)
        credential = issue_consent_receipt(
            claims, issuer_key=key, credential_status=status_entry(url, index), cryptosuite=cryptosuite
        )
        self.repository.record_issued(credential["id"], [IssuedEntry(url, index, "revocation")], conn=conn)
        return credential

    def issue(
        self,
        credential: Mapping[str, Any],
        *,
        cryptosuite: str = RDFC,
        conn: Connection | None = None,
        credential_id: str | None = None,
    ) -> dict[str, Any]:
        """Sign any VC 2.0 credential as our issuer (did:web, or did:key when the credential names it).

        The caller may leave out `issuer`, `id` and `validFrom`. Status entries in our lists are always
        allocated by us; the caller asks for them by purpose, or supplies complete entries of lists it keeps.
        `credential_id` (VC API `options.credentialId`) names a credential that carries no `id`; the status
        of our entries can later be changed by that id, or by `id`.
        """
        if "proof" in credential:
            raise ValidationError("proof", "the credential to issue must not carry a proof")
        key = self.issuer_key(credential.get("issuer"))
        if credential_id is not None and credential.get("id", credential_id) != credential_id:
            raise ValidationError("credentialId", "options.credentialId and credential.id name different credentials")
        unsigned: dict[str, Any] = {
            **credential,
            "issuer": credential.get("issuer", key.did),
            "validFrom": credential.get("validFrom", format_datetime(now_utc())),
        }
        if credential_id is None and "id" not in credential:
            unsigned["id"] = f"urn:uuid:{uuid.uuid4()}"
        entries, ours = self._status_entries(credential.get("credentialStatus"), key, conn)
        unsigned["credentialStatus"] = entries[0] if len(entries) == 1 else entries
        validate_credential(unsigned, limits=self.limits)
        record_id = str(credential_id or unsigned["id"])
        if len(record_id) > MAX_CREDENTIAL_ID:
            raise ValidationError("credentialId", f"a credential id is at most {MAX_CREDENTIAL_ID} characters")
        if ours:
            self.repository.record_issued(record_id, ours, conn=conn)
        return add_proof(
            unsigned,
            private_key_multibase=key.private_key_multibase,
            verification_method=key.verification_method,
            cryptosuite=cryptosuite,
        )

    def revoke(self, receipt: Mapping[str, Any], *, conn: Connection | None = None) -> None:
        """Set the receipt's revocation bit; run it with the ledger's append `conn` when consent is withdrawn."""
        raw = receipt.get("credentialStatus")
        entries = [e for e in (raw if isinstance(raw, list) else [raw]) if isinstance(e, Mapping)]
        revocations = [e for e in entries if e.get("statusPurpose") == "revocation"]
        if not revocations:
            raise StatusListError("receipt has no revocation status entry")
        for entry in revocations:
            url = str(entry.get("statusListCredential"))
            if not url.startswith(self._prefix + "/"):
                raise StatusListError(f"{url} is not one of our status lists")
            self.repository.set_status(url, entry_index(entry), True, conn=conn)

    def update_status(
        self, credential_id: str, purpose: str, value: bool, *, conn: Connection | None = None
    ) -> list[IssuedEntry]:
        """Set or clear the `purpose` bit of a credential we issued, found by its id (VC API status update).

        A revocation is final: clearing it is refused. Suspension may be set and cleared.
        """
        entries = [e for e in self.repository.issued_entries(credential_id, conn=conn) if e.purpose == purpose]
        if not entries:
            raise StatusListError(f"we issued no credential {credential_id!r} with a {purpose} entry")
        if purpose == "revocation" and not value:
            raise StatusListError("a revocation is final; it cannot be cleared")
        for entry in entries:
            self.repository.set_status(entry.list_url, entry.index, value, conn=conn)
        return entries

    def status_list_credential(self, url: str, *, conn: Connection | None = None) -> dict[str, Any]:
        """The signed list to serve at `url` (GET), current as of the committed flips, signed by the issuer
        identity whose credentials point to it."""
        key = self.keyring.current
        if url.startswith(f"{self._prefix}/did-key/"):
            public = url.removeprefix(f"{self._prefix}/did-key/").split("/", 1)[0]
            try:
                key = self.keyring.did_key(public)
            except KeyFormatError:
                raise StatusListError(f"unknown status list {url}") from None
        return publish_status_list(self.repository, url, issuer_key=key, conn=conn)

    def verify_credential(self, credential: Mapping[str, Any]) -> VerificationResult:
        return verify_credential(
            credential, resolver=self.resolver, status_list_lookup=self._lookup, limits=self.limits
        )

    def verify_presentation(
        self, presentation: Mapping[str, Any], *, challenge: str | None, domain: str | None = None
    ) -> VerificationResult:
        """`domain` is the verifier the presentation was made for: ours unless a caller verifies for another.

        Without a challenge nothing binds the presentation to a session, so only a domain the caller names is
        expected (and a presentation without a proof is accepted, with a warning).
        """
        return verify_presentation(
            presentation,
            challenge=challenge,
            domain=domain or (self.domain if challenge is not None else None),
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
