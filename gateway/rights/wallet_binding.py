"""Binding a wallet's DID to a customer's account with a one-time code (`consentry wallet bind`).

Two proofs meet here: the customer proves control of the account by signing in and asking for a code (the
portal's account page or `POST /v1/me/wallet/binding-codes`), and the wallet proves control of the DID's key by
signing a DID Authentication presentation over a gateway challenge. The wallet sends both; the gateway checks
the signature first (a wallet with the wrong key does not burn the customer's code), then redeems the code,
binds the DID and records `customer.did.bound` in the ledger, all in one transaction. A code is shown once,
kept only as its hash, lives ten minutes and binds one wallet.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, insert, select

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.customers import bind_did
from gateway.store.wallet_binding_tables import wallet_binding_codes
from ledger import Event
from ledger.store import Ledger

__all__ = [
    "BINDING_CODE_TTL",
    "BOUND_EVENT",
    "BindingCode",
    "BindingCodeError",
    "bind_with_code",
    "issue_binding_code",
]

BOUND_EVENT = "customer.did.bound"
BINDING_CODE_TTL = timedelta(minutes=10)
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read off a screen and typed
_LENGTH = 12  # 12 × log2(30) ≈ 59 bits


@dataclass(frozen=True)
class BindingCode:
    code: str
    expires_at: datetime


class BindingCodeError(Exception):
    """The code binds nothing: `kind` is `invalid` (unknown or already used) or `expired`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c not in "- ")


def _hash(code: str) -> bytes:
    return hashlib.sha256(_normalise(code).encode()).digest()


def issue_binding_code(engine: Engine, customer_id: str, now: datetime | None = None) -> BindingCode:
    """A fresh code for the signed-in customer (expired codes are swept as it is written)."""
    moment = now or datetime.now(UTC)
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    code = "-".join(raw[i : i + 4] for i in range(0, _LENGTH, 4))
    expires = moment + BINDING_CODE_TTL
    with engine.begin() as conn:
        conn.execute(delete(wallet_binding_codes).where(wallet_binding_codes.c.expires_at < moment))
        conn.execute(
            insert(wallet_binding_codes).values(
                code_hash=_hash(code), customer_id=customer_id, created_at=moment, expires_at=expires
            )
        )
    return BindingCode(code, expires)


def bind_with_code(ledger: Ledger, pseudonyms: Pseudonyms, code: str, did: str) -> tuple[str, int]:
    """Redeem `code` for the DID the wallet proved it controls; returns the customer id and the ledger index.

    Raises `BindingCodeError` (nothing bound, nothing recorded) or `DidInUseError` (the DID is another
    customer's: the code is not used up)."""
    t = wallet_binding_codes
    digest = _hash(code)
    now = datetime.now(UTC)
    with ledger.engine.connect() as conn:
        row = conn.execute(select(t.c.customer_id, t.c.expires_at).where(t.c.code_hash == digest)).first()
    if row is None:
        raise BindingCodeError("invalid", "This binding code is unknown or was already used.")
    expires = row.expires_at if row.expires_at.tzinfo is not None else row.expires_at.replace(tzinfo=UTC)
    if expires <= now:
        with ledger.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.code_hash == digest))
        raise BindingCodeError(
            "expired", f"This binding code expired at {expires.isoformat()}; ask for a new one on your account page."
        )
    customer_id = str(row.customer_id)

    def redeem(conn: Connection, index: int) -> None:
        used = conn.execute(delete(t).where(and_(t.c.code_hash == digest, t.c.expires_at > now)))
        if used.rowcount != 1:
            raise BindingCodeError("invalid", "This binding code was used meanwhile.")
        bind_did(conn, customer_id, did)

    event = Event(
        type=BOUND_EVENT,
        actor=f"customer:{customer_id}",
        subject=pseudonyms(customer_id),
        payload={"did": did, "account_proof": "binding_code", "key_proof": "did_authentication"},
    )
    return customer_id, ledger.append(event, effects=redeem)
