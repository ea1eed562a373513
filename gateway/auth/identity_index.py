"""The unified index: which source systems hold data about a customer, and under which identifier.

Each source names the customer its own way (the vehicle cloud by customer number, billing by account number, the
insurer by policy number). A CRM may name the customer by any of them; the gateway resolves it here and calls each
source with that source's own identifier. The identifiers are the only personal values the index holds, and they
are sealed at rest (AES-256-GCM under a key derived from the pseudonym secret, the source as associated data);
look-ups go through a keyed HMAC of the identifier, so the table alone reveals neither.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.auth.journal import Journal, write
from gateway.store.federation_tables import identity_links
from keyfiles import SealedBox

__all__ = ["IdentifierInUseError", "IdentityIndex", "IdentityLink", "InvalidIdentifierError"]

IDENTITY_LINKED_EVENT = "customer.identity_linked"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")


class InvalidIdentifierError(ValueError):
    """The identifier cannot name a customer at a source (same rule as a source subject)."""


class IdentifierInUseError(ValueError):
    """The source's identifier already names another customer."""


@dataclass(frozen=True)
class IdentityLink:
    customer_id: str
    source: str
    identifier: str
    linked_at: datetime
    linked_by: str

    def to_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "identifier": self.identifier,
            "linked_at": self.linked_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "linked_by": self.linked_by,
        }


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class IdentityIndex:
    def __init__(self, engine: Engine, secret: bytes, journal: Journal | None = None) -> None:
        self.engine = engine
        self.journal = journal  # each link is a ledger entry when the runtime provides one
        self._box = SealedBox.hkdf(secret, info=b"consentry identity index seal v1")
        self._lookup = _derive(secret, b"consentry identity index lookup v1")

    def __repr__(self) -> str:
        return "IdentityIndex(<keys>)"

    def _hash(self, identifier: str) -> str:
        return hmac.new(self._lookup, identifier.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def check(identifier: str) -> str:
        if not _IDENTIFIER.match(identifier):
            raise InvalidIdentifierError("identifier: 1-128 characters from letters, digits and . _ ~ -")
        return identifier

    def link(self, customer_id: str, source: str, identifier: str, *, actor: str) -> IdentityLink:
        """Record that `source` knows the customer as `identifier` (replacing the source's earlier identifier for
        them). An identifier that names another customer at that source is refused."""
        self.check(identifier)
        digest = self._hash(identifier)
        now = datetime.now(UTC)

        def change(conn: Connection) -> None:
            owner = conn.execute(
                select(identity_links.c.customer_id).where(
                    and_(identity_links.c.source == source, identity_links.c.identifier_hash == digest)
                )
            ).scalar()
            if owner is not None and owner != customer_id:
                raise IdentifierInUseError(f"{source} already links this identifier to another customer")
            conn.execute(
                delete(identity_links).where(
                    and_(identity_links.c.customer_id == customer_id, identity_links.c.source == source)
                )
            )
            try:
                conn.execute(
                    insert(identity_links).values(
                        source=source,
                        identifier_hash=digest,
                        customer_id=customer_id,
                        sealed_identifier=self._box.seal(identifier.encode(), source.encode()),
                        linked_at=now,
                        linked_by=actor,
                    )
                )
            except IntegrityError:  # linked to someone else between our check and our write
                raise IdentifierInUseError(f"{source} already links this identifier to another customer") from None

        # which source knows them, never the identifier itself
        write(
            self.engine,
            self.journal,
            change,
            IDENTITY_LINKED_EVENT,
            actor=actor,
            subject=customer_id,
            payload={"source": source},
            personal=True,
        )
        return IdentityLink(customer_id, source, identifier, now, actor)

    def unlink(self, customer_id: str, source: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(identity_links).where(
                    and_(identity_links.c.customer_id == customer_id, identity_links.c.source == source)
                )
            )
        return gone.rowcount == 1

    def links(self, customer_id: str) -> list[IdentityLink]:
        """Every source holding data about the customer, with the identifier it uses, by source name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(identity_links)
                .where(identity_links.c.customer_id == customer_id)
                .order_by(identity_links.c.source)
            ).mappings()
            return [
                IdentityLink(
                    customer_id,
                    row["source"],
                    self._box.open(row["sealed_identifier"], row["source"].encode()).decode(),
                    row["linked_at"] if row["linked_at"].tzinfo else row["linked_at"].replace(tzinfo=UTC),
                    row["linked_by"],
                )
                for row in rows
            ]

    def resolve(self, identifier: str) -> set[str]:
        """The customers any source names `identifier` (normally one; several means it is ambiguous)."""
        if not _IDENTIFIER.match(identifier):
            return set()
        with self.engine.connect() as conn:
            found = conn.execute(
                select(identity_links.c.customer_id).where(identity_links.c.identifier_hash == self._hash(identifier))
            ).scalars()
            return set(found)

    def forget(self, customer_id: str) -> None:
        """Erasure: the identifiers go with the rest of the customer's personal data."""
        with self.engine.begin() as conn:
            conn.execute(delete(identity_links).where(identity_links.c.customer_id == customer_id))
