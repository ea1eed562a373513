"""Temporary access grants, signed in the customer's wallet: one recipient, some data categories, one purpose,
until an end time.

A grant is a JSON document secured with a W3C Data Integrity proof (`eddsa-jcs-2022`: RFC 8785 canonical JSON
and Ed25519) made with the customer's did:key for `assertionMethod`. It carries no JSON-LD context, so it
needs no RDF canonicalization and any Data Integrity verifier with a did:key resolver can check it. The
gateway verifies it (`verify_access_grant`), records it as a consent that ends at `validUntil`, and the grant
lapses on its own: nothing has to be revoked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from credentials.data_integrity import JCS, add_proof, verify_proof
from credentials.datetimes import format_datetime, now_utc, parse_datetime
from credentials.dids import DidResolver, did_key_verification_method
from credentials.errors import CredentialError
from credentials.keys import key_pair_from_private, private_key_from_multibase

GRANT_TYPE = "ConsentryAccessGrant"
MAX_GRANT_DURATION = timedelta(days=31)
MAX_CATEGORIES = 64
MAX_FIELD_LENGTH = 256
_FIELDS = frozenset({"type", "id", "grantor", "recipient", "categories", "purpose", "validFrom", "validUntil"})


class AccessGrantError(CredentialError):
    """A grant is malformed, not signed by its grantor, or not in force; `rule` names which."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_FIELD_LENGTH:
        raise AccessGrantError("grant-format", f"{what} is a string of 1 to {MAX_FIELD_LENGTH} characters")
    return value


@dataclass(frozen=True)
class AccessGrant:
    """What the customer allowed: `recipient` may use `categories` for `purpose` from `valid_from` to `valid_until`."""

    id: str
    grantor: str
    recipient: str
    categories: tuple[str, ...]
    purpose: str
    valid_from: datetime
    valid_until: datetime

    def __post_init__(self) -> None:
        for name in ("id", "grantor", "recipient", "purpose"):
            _text(getattr(self, name), name)
        object.__setattr__(self, "categories", tuple(self.categories))
        if not 0 < len(self.categories) <= MAX_CATEGORIES or len(set(self.categories)) != len(self.categories):
            raise AccessGrantError("grant-format", f"categories are 1 to {MAX_CATEGORIES} distinct names")
        for category in self.categories:
            _text(category, "a category")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise AccessGrantError("grant-format", "validFrom and validUntil carry a time zone")
        if self.valid_from >= self.valid_until:
            raise AccessGrantError("grant-format", "a grant ends after it begins")

    @classmethod
    def new(
        cls, grantor: str, recipient: str, categories: Sequence[str], purpose: str, *, until: datetime, start: datetime
    ) -> AccessGrant:
        """A grant with a fresh id; instants are kept in whole seconds, as they are signed."""
        begin, end = start.replace(microsecond=0), until.replace(microsecond=0)
        return cls(f"urn:uuid:{uuid.uuid4()}", grantor, recipient, tuple(categories), purpose, begin, end)

    def in_force(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_until

    def to_document(self) -> dict[str, Any]:
        """The unsigned document (instants in whole seconds, UTC)."""
        return {
            "type": GRANT_TYPE,
            "id": self.id,
            "grantor": self.grantor,
            "recipient": self.recipient,
            "categories": list(self.categories),
            "purpose": self.purpose,
            "validFrom": format_datetime(self.valid_from),
            "validUntil": format_datetime(self.valid_until),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AccessGrant:
        fields = {k: v for k, v in document.items() if k != "proof"}
        if set(fields) != _FIELDS or fields["type"] != GRANT_TYPE:
            raise AccessGrantError("grant-format", f"a grant has exactly {', '.join(sorted(_FIELDS))} and a proof")
        categories = fields["categories"]
        if not isinstance(categories, list):
            raise AccessGrantError("grant-format", "categories is a list")
        start, end = parse_datetime(fields["validFrom"]), parse_datetime(fields["validUntil"])
        if start is None or end is None:
            raise AccessGrantError("grant-format", "validFrom and validUntil are XML Schema dateTimeStamps")
        return cls(
            fields["id"], fields["grantor"], fields["recipient"], tuple(categories), fields["purpose"], start, end
        )


def sign_access_grant(grant: AccessGrant, private_key_multibase: str) -> dict[str, Any]:
    """The grant secured by the grantor's did:key (which must be the key's own DID)."""
    pair = key_pair_from_private(private_key_from_multibase(private_key_multibase))
    method = did_key_verification_method(pair.public_key_multibase)
    if method.split("#", 1)[0] != grant.grantor:
        raise AccessGrantError("grantor", "the signing key is not the grantor DID's key")
    return add_proof(
        grant.to_document(),
        private_key_multibase=private_key_multibase,
        verification_method=method,
        cryptosuite=JCS,
        proof_purpose="assertionMethod",
    )


def verify_access_grant(
    document: object,
    *,
    now: datetime | None = None,
    max_duration: timedelta = MAX_GRANT_DURATION,
    resolver: DidResolver | None = None,
) -> AccessGrant:
    """The grant, once its grantor's signature verifies and it is in force now; `AccessGrantError` otherwise."""
    if not isinstance(document, Mapping):
        raise AccessGrantError("grant-format", "a grant is a JSON object")
    grant = AccessGrant.from_document(document)
    proof = document.get("proof")
    if not isinstance(proof, Mapping) or proof.get("cryptosuite") != JCS:
        raise AccessGrantError("proof", f"a grant carries one {JCS} proof")
    result = verify_proof(document, resolver=resolver, expected_proof_purpose="assertionMethod", now=now)
    if not result.verified:
        raise AccessGrantError("proof", "; ".join(str(e) for e in result.errors) or "the proof does not verify")
    if result.controllers != [grant.grantor]:
        raise AccessGrantError("grantor", "the grant is not signed by its grantor's key")
    if grant.valid_until - grant.valid_from > max_duration:
        raise AccessGrantError("grant-too-long", f"a temporary grant lasts at most {max_duration}")
    moment = now or now_utc()
    if moment < grant.valid_from:
        raise AccessGrantError("grant-not-yet-valid", f"the grant begins at {format_datetime(grant.valid_from)}")
    if moment >= grant.valid_until:
        raise AccessGrantError("grant-lapsed", f"the grant ended at {format_datetime(grant.valid_until)}")
    return grant
