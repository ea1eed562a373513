"""Customer accounts, their browser sessions and the login throttle.

Every customer has a DID from enrolment: their wallet's, or a did:key whose private key the gateway keeps
sealed until the customer takes it (`gateway.auth.custody`).

Sessions are random 256-bit tokens in a cookie; only their SHA-256 is stored, and each expires. The
throttle is keyed by the submitted username (and the caller's address) whether or not an account exists, so
a lockout answer never tells an attacker which usernames are real.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, delete, insert, null, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.auth.custody import CustodyVault, discard_custodial_key, forget_custodial_key, store_custodial_key
from gateway.auth.journal import Journal, write
from gateway.auth.passwords import hash_password, needs_rehash, verify_password
from gateway.auth.principals import CustomerPrincipal
from gateway.store.tables import customer_sessions, customers, login_attempts
from policies import JURISDICTION_CODE

_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{3,200}$")
_SUBJECT_CACHE_SIZE = 65_536
_CUSTOMER_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_SOURCE_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")


CUSTOMER_ENROLLED_EVENT = "customer.enrolled"
UNUSABLE_HASH = "!"  # not an argon2 hash: every password check against it fails


class CustomerExistsError(ValueError):
    """The username is taken."""


class InvalidCustomerError(ValueError):
    """A field of a new customer breaks a rule; the message names it."""


def bind_did(conn: Connection, customer_id: str, did: str) -> None:
    """`CustomerStore.set_did` inside the caller's transaction (so a ledger entry can commit with it)."""
    owner = conn.execute(select(customers.c.customer_id).where(customers.c.did == did)).scalar()
    if owner is not None and owner != customer_id:
        raise DidInUseError("this DID already belongs to another customer")
    try:
        conn.execute(update(customers).where(customers.c.customer_id == customer_id).values(did=did))
    except IntegrityError:  # bound to someone else between our check and our write
        raise DidInUseError("this DID already belongs to another customer") from None
    forget_custodial_key(conn, customer_id)


class DidInUseError(ValueError):
    """The DID already belongs to another customer; a DID signs in as one customer only."""


class LoginLockedError(Exception):
    """Too many failed logins for this username; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def customer_principal(row: Any) -> CustomerPrincipal:
    """A customer row as the principal routes and services see."""
    return CustomerPrincipal(
        customer_id=row["customer_id"],
        username=row["username"],
        display_name=row["display_name"],
        jurisdiction=row["jurisdiction"],
        did=row["did"],
        customer_type=row["customer_type"],
        source_subject=row["source_subject"],
    )


class CustomerStore:
    def __init__(self, engine: Engine, vault: CustodyVault | None = None, journal: Journal | None = None) -> None:
        """Without a `vault` (a tool holding the database but not the data directory's custody key) customers
        are enrolled without a DID and get a custodial one from the running gateway when first needed. With a
        `journal` every enrolment is a ledger entry."""
        self.engine = engine
        self.vault = vault
        self.journal = journal
        # source subject -> (monotonic time read, customer): the proxy's per-request subject lookup
        self._subjects: dict[str, tuple[float, CustomerPrincipal]] = {}

    def create(
        self,
        *,
        username: str,
        password: str | None,
        display_name: str,
        jurisdiction: str,
        customer_type: str = "standard",
        source_subject: str | None = None,
        did: str | None = None,
        jurisdictions: Collection[str] | None = None,
        customer_types: Collection[str] | None = None,
        actor: str = "operator",
    ) -> CustomerPrincipal:
        """Enrol a customer (without a `password` the account cannot sign in with one).
        `source_subject` is the customer number source systems use in their paths;
        `did` is the customer's own wallet DID when known at enrolment (the wallet keeps its key); without one
        the customer gets a custodial did:key, created in the same transaction as the account.
        `jurisdictions` and `customer_types` (the taxonomy's, when the caller has it) refuse a customer the
        decision engine could not decide for."""
        if not _USERNAME.match(username):
            raise InvalidCustomerError("username: 3-200 characters from letters, digits and . _ @ + -")
        if not re.fullmatch(JURISDICTION_CODE, jurisdiction):
            raise InvalidCustomerError(
                "jurisdiction: an ISO 3166-1 alpha-2 code such as CN or DE, or an ISO 3166-2 subdivision such as US-CA"
            )
        if jurisdictions is not None and jurisdiction not in jurisdictions:
            raise InvalidCustomerError(
                f"jurisdiction: {jurisdiction!r} is not in the taxonomy (one of {', '.join(sorted(jurisdictions))}); "
                "where the law is a state's, name the subdivision (US-CA, not US)"
            )
        if not _CUSTOMER_TYPE.match(customer_type):
            raise InvalidCustomerError("customer_type: a taxonomy id such as standard, vip or minor")
        if customer_types is not None and customer_type not in customer_types:
            raise InvalidCustomerError(
                f"customer_type: {customer_type!r} is not in the taxonomy (one of {', '.join(sorted(customer_types))})"
            )
        if source_subject is not None and not _SOURCE_SUBJECT.match(source_subject):
            raise InvalidCustomerError("source_subject: 1-128 characters from letters, digits and . _ ~ -")
        custodial = self.vault.new_did() if did is None and self.vault is not None else None
        customer_id = str(uuid.uuid4())
        values = {
            "customer_id": customer_id,
            "username": username,
            # no password: an account that never signs in with one (imported, or wallet-only); nothing verifies
            "password_hash": hash_password(password) if password is not None else UNUSABLE_HASH,
            "display_name": display_name.strip() or username,
            "jurisdiction": jurisdiction,
            "did": custodial[0] if custodial else did,
            "created_at": datetime.now(UTC),
            "customer_type": customer_type,
            "source_subject": source_subject,
        }

        def enrol(conn: Connection) -> None:
            if conn.execute(select(customers.c.customer_id).where(customers.c.username == username)).first():
                raise CustomerExistsError(f"username {username!r} is taken")
            if (
                source_subject is not None
                and conn.execute(
                    select(customers.c.customer_id).where(customers.c.source_subject == source_subject)
                ).first()
            ):
                raise CustomerExistsError(f"source subject {source_subject!r} is already enrolled")
            if did is not None and conn.execute(select(customers.c.customer_id).where(customers.c.did == did)).first():
                raise DidInUseError("this DID already belongs to another customer")
            conn.execute(insert(customers).values(**values))
            if custodial is not None:
                store_custodial_key(conn, customer_id, *custodial)

        payload = {
            "jurisdiction": jurisdiction,
            "customer_type": customer_type,
            "source_linked": source_subject is not None,
            "did": "custodial" if custodial else "wallet" if did else "none",
        }
        write(
            self.engine,
            self.journal,
            enrol,
            CUSTOMER_ENROLLED_EVENT,
            actor=actor,
            subject=customer_id,
            payload=payload,
            personal=True,
        )
        return customer_principal(values)

    def get(self, customer_id: str) -> CustomerPrincipal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.customer_id == customer_id)).mappings().first()
        return customer_principal(row) if row else None

    def by_username(self, username: str) -> CustomerPrincipal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.username == username)).mappings().first()
        return customer_principal(row) if row else None

    def by_source_subject(self, subject: str) -> CustomerPrincipal | None:
        """The customer a source system names `subject`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.source_subject == subject)).mappings().first()
        return customer_principal(row) if row else None

    def recent_by_source_subject(self, subject: str, max_age: float) -> CustomerPrincipal | None:
        """The customer as read at most `max_age` seconds ago by `remember_source_subject`, or None.

        Only a customer's type and jurisdiction come from here; consents are read fresh on every
        decision, so a stale entry can never turn a withdrawal into an allow.
        """
        hit = self._subjects.get(subject)
        if hit is None or time.monotonic() - hit[0] > max_age:
            return None
        return hit[1]

    def remember_source_subject(self, subject: str) -> CustomerPrincipal | None:
        """`by_source_subject`, keeping the answer for `recent_by_source_subject`."""
        customer = self.by_source_subject(subject)
        if customer is None:
            self._subjects.pop(subject, None)
        else:
            if len(self._subjects) >= _SUBJECT_CACHE_SIZE:
                self._subjects.clear()
            self._subjects[subject] = (time.monotonic(), customer)
        return customer

    def list(self) -> list[CustomerPrincipal]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(customers).order_by(customers.c.created_at)).mappings().all()
        return [customer_principal(row) for row in rows]

    def by_did(self, did: str) -> CustomerPrincipal | None:
        """The customer a wallet DID signs in as (at most one: the column is unique)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.did == did)).mappings().first()
        return customer_principal(row) if row else None

    def set_did(self, customer_id: str, did: str) -> None:
        """Bind the customer's wallet DID, after the wallet proved control of it; the custodial key of the DID it
        replaces is deleted in the same transaction (the wallet holds its own key)."""
        with self.engine.begin() as conn:
            bind_did(conn, customer_id, did)

    def ensure_did(self, customer_id: str) -> str:
        """The customer's DID, creating a custodial did:key for a customer enrolled before DIDs were given at
        enrolment. Two concurrent callers get the same DID: only the one whose guarded UPDATE lands stores a key."""
        with self.engine.connect() as conn:
            did = conn.execute(select(customers.c.did).where(customers.c.customer_id == customer_id)).scalar()
        if did is not None:
            return str(did)
        if self.vault is None:
            raise RuntimeError("creating a custodial DID needs the custody key (a CustomerStore with a vault)")
        new_did, sealed = self.vault.new_did()
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(customers)
                .where(and_(customers.c.customer_id == customer_id, customers.c.did.is_(None)))
                .values(did=new_did)
            )
            if claimed.rowcount == 1:
                store_custodial_key(conn, customer_id, new_did, sealed)
                return new_did
        with self.engine.connect() as conn:
            did = conn.execute(select(customers.c.did).where(customers.c.customer_id == customer_id)).scalar()
        if did is None:
            raise LookupError(f"no customer {customer_id}")
        return str(did)

    def forget_custodial_key(self, customer_id: str) -> None:
        """Delete the sealed key of the customer's custodial DID, if the gateway holds one (erasure); the record
        that it held one stays."""
        with self.engine.begin() as conn:
            discard_custodial_key(conn, customer_id)

    def authenticate(self, username: str, password: str) -> CustomerPrincipal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(customers).where(customers.c.username == username)).mappings().first()
        if not verify_password(row["password_hash"] if row else None, password) or row is None:
            return None
        if needs_rehash(row["password_hash"]):
            with self.engine.begin() as conn:
                conn.execute(
                    update(customers)
                    .where(customers.c.customer_id == row["customer_id"])
                    .values(password_hash=hash_password(password))
                )
        return customer_principal(row)


@dataclass(frozen=True)
class LoginThrottle:
    """N failed sign-ins for one username from one address within a window lock that username at that address.

    Counted per (username, address): an outsider who knows a customer's username can lock only themselves out,
    never the customer signing in from elsewhere (the per-address and global limits of `gateway.auth.sign_in`
    bound how fast many addresses together may guess). Each attempt reserves its failure *before* the password
    is checked, in one conditional UPDATE, and a success gives the reservations back; so parallel guesses can
    never run more checks than `max_failures`, on SQLite or PostgreSQL, in one process or several.
    """

    engine: Engine
    max_failures: int
    window: timedelta
    lockout: timedelta

    def reserve(self, username: str, address: str) -> None:
        """Count one failure in advance, or raise `LoginLockedError` (locked, or the allowance is taken by
        attempts still in flight)."""
        table = login_attempts
        key = and_(table.c.username == username, table.c.address == address)
        for _ in range(3):
            now = datetime.now(UTC)
            # A spent window, or a lockout that has run out, starts the count again.
            fresh = or_(
                table.c.window_start < now - self.window,
                and_(table.c.locked_until.is_not(None), table.c.locked_until <= now),
            )
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(table)
                    .where(key, or_(fresh, and_(table.c.locked_until.is_(None), table.c.failures < self.max_failures)))
                    .values(
                        failures=case((fresh, 1), else_=table.c.failures + 1),
                        window_start=case((fresh, now), else_=table.c.window_start),
                        locked_until=case((fresh, null()), else_=table.c.locked_until),
                    )
                )
                if claimed.rowcount == 1:
                    return
                row = conn.execute(select(table.c.locked_until).where(key)).first()
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                insert(table).values(username=username, address=address, failures=1, window_start=now)
                            )
                    except IntegrityError:
                        continue  # another attempt created the row first: claim through it
                    return
            if row.locked_until is None:
                raise LoginLockedError(1)  # the allowance is held by attempts still being checked
            raise LoginLockedError(max(1, int((_aware(row.locked_until) - now).total_seconds()) + 1))
        raise LoginLockedError(1)

    def failed(self, username: str, address: str) -> None:
        """The reserved failure stands; the one that fills the allowance locks the pair."""
        now = datetime.now(UTC)
        table = login_attempts
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(
                    table.c.username == username,
                    table.c.address == address,
                    table.c.failures >= self.max_failures,
                    table.c.locked_until.is_(None),
                )
                .values(locked_until=now + self.lockout)
            )
            # Pairs whose window and lockout are both over are forgotten (unknown usernames would pile up).
            conn.execute(
                delete(table).where(
                    table.c.window_start < now - self.window - self.lockout,
                    or_(table.c.locked_until.is_(None), table.c.locked_until < now),
                )
            )

    def succeeded(self, username: str, address: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(login_attempts).where(login_attempts.c.username == username, login_attempts.c.address == address)
            )


class SessionStore:
    def __init__(self, engine: Engine, ttl: timedelta) -> None:
        self.engine = engine
        self.ttl = ttl

    @staticmethod
    def _hash(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def create(self, customer_id: str) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + self.ttl
        with self.engine.begin() as conn:
            conn.execute(delete(customer_sessions).where(customer_sessions.c.expires_at < now))
            conn.execute(
                insert(customer_sessions).values(
                    session_hash=self._hash(token), customer_id=customer_id, created_at=now, expires_at=expires
                )
            )
        return token, expires

    def resolve(self, token: str) -> str | None:
        """The customer id of a live session, or None (unknown or expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(customer_sessions.c.customer_id, customer_sessions.c.expires_at).where(
                    customer_sessions.c.session_hash == self._hash(token)
                )
            ).first()
        if row is None or _aware(row.expires_at) <= datetime.now(UTC):
            return None
        return str(row.customer_id)

    def end(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(customer_sessions).where(customer_sessions.c.session_hash == self._hash(token)))
