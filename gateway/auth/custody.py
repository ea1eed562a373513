"""Custodial did:key keys: a DID for every customer from enrolment, whose private key the customer can take.

A customer enrolled without a wallet still needs a DID: their consent receipts (W3C VCs) are issued to it.
The gateway creates an Ed25519 did:key and keeps its private key sealed with AES-256-GCM under the custody
key (`keys/custody.secret`, mode 0600, or `CONSENTRY_CUSTODY_KEY`), with the DID as associated data: a sealed
key copied onto another customer's row, or altered, does not open. The customer takes custody once
(`POST /v1/me/did/custody`): the key is returned as a JWK and the gateway's copy is deleted in the same
transaction as the ledger entry that records the release, so the key is handed out at most once and never
without a trace. Binding a wallet DID or erasure deletes the sealed key as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from credentials import did_key_from_multibase, did_key_verification_method, key_pair_from_private, public_jwk
from gateway.store.tables import custodial_did_keys, customers
from keyfiles import SealedBox, SealedDataError
from ledger import Event
from ledger.b64 import b64url_encode
from ledger.store import Ledger

CUSTODY_EVENT = "customer.did.custody"
_KEK_INFO = b"consentry custodial did:key sealing v1"


class CustodyError(Exception):
    """Base of the custody errors."""


class NoCustodialKeyError(CustodyError):
    """The gateway never held this customer's DID key (a wallet DID), or no longer does (erased)."""


class KeyAlreadyReleasedError(CustodyError):
    """The customer already took custody of the key; the gateway kept no copy."""


class SealedKeyError(CustodyError):
    """A sealed key does not open: altered, moved to another DID's row, or sealed under another custody key."""


def did_of(key: Ed25519PrivateKey) -> str:
    """The did:key naming the public half of `key`."""
    return did_key_from_multibase(key_pair_from_private(key).public_key_multibase)


def private_jwk(did: str, key: Ed25519PrivateKey) -> dict[str, str]:
    """RFC 8037 OKP JWK with `d`; `kid` is the did:key verification method, as wallets import it."""
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    multibase = did.removeprefix("did:key:")
    return {**public_jwk(key.public_key()), "d": b64url_encode(seed), "kid": did_key_verification_method(multibase)}


@dataclass(frozen=True)
class CustodyVault:
    """Seals and opens custodial private keys (`keyfiles.SealedBox`). The AES key is derived (HKDF-SHA256) from
    the custody secret, so those bytes serve this purpose only whatever else an operator reuses them for."""

    _box: SealedBox = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> CustodyVault:
        if len(secret) < 32:
            raise ValueError("the custody secret must hold at least 32 bytes")
        return cls(SealedBox.hkdf(secret, info=_KEK_INFO))

    def seal(self, did: str, key: Ed25519PrivateKey) -> bytes:
        """nonce (96 random bits) ‖ AES-GCM ciphertext of the 32-byte seed, bound to `did`."""
        return self._box.seal(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()), did.encode())

    def open(self, did: str, sealed: bytes) -> Ed25519PrivateKey:
        try:
            seed = self._box.open(sealed, did.encode())
        except SealedDataError:
            raise SealedKeyError(f"the sealed key of {did} does not open") from None
        key = Ed25519PrivateKey.from_private_bytes(seed)
        if did_of(key) != did:  # cannot happen with an intact seal; checked so a release can never mismatch
            raise SealedKeyError(f"the sealed key does not belong to {did}")
        return key

    def new_did(self) -> tuple[str, bytes]:
        """A fresh did:key and its sealed private key."""
        key = Ed25519PrivateKey.generate()
        did = did_of(key)
        return did, self.seal(did, key)


def store_custodial_key(conn: Connection, customer_id: str, did: str, sealed: bytes) -> None:
    """Keep the sealed key of the customer's new DID (in the caller's transaction, with the DID itself)."""
    conn.execute(
        insert(custodial_did_keys).values(
            customer_id=customer_id, did=did, sealed_key=sealed, created_at=datetime.now(UTC)
        )
    )


def forget_custodial_key(conn: Connection, customer_id: str) -> None:
    """Delete the customer's sealed key and its record (wallet bound, or erased)."""
    conn.execute(delete(custodial_did_keys).where(custodial_did_keys.c.customer_id == customer_id))


def discard_custodial_key(conn: Connection, customer_id: str) -> None:
    """Delete the sealed key but keep the record (erasure), so the customer is told that the gateway held the
    key until then rather than that it never did. A key the customer already took stays recorded as taken."""
    conn.execute(
        update(custodial_did_keys)
        .where(and_(custodial_did_keys.c.customer_id == customer_id, custodial_did_keys.c.released_at.is_(None)))
        .values(sealed_key=None)
    )


@dataclass(frozen=True)
class CustodyState:
    """The customer's DID (None until first needed), whether the gateway still holds its private key, and when
    the customer took it; `discarded`: the gateway held the key and deleted it without handing it over (erasure)."""

    did: str | None
    gateway_holds_key: bool
    released_at: datetime | None
    released_ledger_index: int | None
    discarded: bool = False


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def custody_state(engine: Engine, customer_id: str) -> CustodyState:
    """Read in one statement, so the DID and the custody record always describe the same moment (a wallet
    bound in between would otherwise pair the new DID with the old key's state). `LookupError` for no such
    customer."""
    query = (
        select(
            customers.c.did,
            custodial_did_keys.c.customer_id.label("custody_record"),
            custodial_did_keys.c.sealed_key,
            custodial_did_keys.c.released_at,
            custodial_did_keys.c.released_ledger_index,
        )
        .select_from(customers.outerjoin(custodial_did_keys))
        .where(customers.c.customer_id == customer_id)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise LookupError(f"no customer {customer_id}")
    released = _aware(row["released_at"]) if row["released_at"] else None
    discarded = row["custody_record"] is not None and row["sealed_key"] is None and released is None
    return CustodyState(row["did"], row["sealed_key"] is not None, released, row["released_ledger_index"], discarded)


def release_custodial_key(
    ledger: Ledger, vault: CustodyVault, *, customer_id: str, actor: str, subject: str
) -> tuple[dict[str, Any], int]:
    """Hand the customer their DID's private key (JWK) and delete the gateway's copy; returns it and the index
    of the ledger entry recording the release.

    The deletion is an effect of the ledger append: it commits with the entry or not at all, and the guarded
    UPDATE lets only one of two concurrent releases through (the other raises, and leaves no entry).
    """
    released: list[dict[str, Any]] = []
    now = datetime.now(UTC)

    def hand_over(conn: Connection, index: int) -> None:
        row = conn.execute(
            select(custodial_did_keys.c.did, custodial_did_keys.c.sealed_key, custodial_did_keys.c.released_at).where(
                custodial_did_keys.c.customer_id == customer_id
            )
        ).first()
        if row is None:
            raise NoCustodialKeyError("it is your wallet's, and the gateway never held its key")
        if row.sealed_key is None and row.released_at is None:
            raise NoCustodialKeyError("the gateway deleted its copy when your data was erased")
        if row.sealed_key is None:
            raise KeyAlreadyReleasedError("the key of this DID was already released to the customer")
        key = vault.open(str(row.did), bytes(row.sealed_key))
        taken = conn.execute(
            update(custodial_did_keys)
            .where(and_(custodial_did_keys.c.customer_id == customer_id, custodial_did_keys.c.sealed_key.is_not(None)))
            .values(sealed_key=None, released_at=now, released_ledger_index=index)
        )
        if taken.rowcount != 1:
            raise KeyAlreadyReleasedError("the key of this DID was already released to the customer")
        released.append(private_jwk(str(row.did), key))

    with ledger.engine.connect() as conn:
        did = conn.execute(
            select(custodial_did_keys.c.did).where(custodial_did_keys.c.customer_id == customer_id)
        ).scalar()
    if did is None:
        raise NoCustodialKeyError("it is your wallet's, and the gateway never held its key")
    index = ledger.append(
        Event(type=CUSTODY_EVENT, actor=actor, subject=subject, payload={"did": did, "to": "subject"}, time=now),
        effects=hand_over,
    )
    return released[0], index
