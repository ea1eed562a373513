"""The registry of OAuth clients (CRM systems, auditors, administrators) an administrator has admitted."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Connection, Engine, exists, insert, select, update

from gateway.auth.journal import Journal, write
from gateway.auth.principals import CLIENT_ROLES, Role, Scope
from gateway.store.tables import oauth_clients, revoked_tokens
from policies import Taxonomy

T = TypeVar("T")

CLIENT_REGISTERED_EVENT = "client.registered"
CLIENT_ROTATED_EVENT = "client.credentials_rotated"
CLIENT_DISABLED_EVENT = "client.disabled"
CLIENT_ENABLED_EVENT = "client.enabled"
# What a registration entry records: the authorization, never the secret or the key set.
_REGISTRATION_FACTS = ("organization", "roles", "scopes", "allowed_purposes", "jurisdiction", "auth_method")

AUTH_METHODS = ("client_secret_basic", "private_key_jwt")
# A client registered with a secret may send it in the Authorization header or, as RFC 6749 §2.3.1 also
# allows and many OAuth client libraries do, as `client_id` and `client_secret` in the form body.
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})

# Which roles may hold each scope: a CRM never gets `admin`, an auditor only reads the ledger.
SCOPE_ROLES: Mapping[str, frozenset[Role]] = {
    Scope.PROXY: frozenset({Role.CRM}),
    Scope.ZK: frozenset({Role.CRM}),
    Scope.ANALYTICS: frozenset({Role.CRM}),
    Scope.LEDGER_READ: frozenset({Role.AUDITOR, Role.ADMIN}),
    Scope.ADMIN: frozenset({Role.ADMIN}),
    # Operational counters (client ids among them): for a monitoring system registered as an auditor, or admins.
    Scope.METRICS: frozenset({Role.AUDITOR, Role.ADMIN}),
}

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
_PURPOSE = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


class _NoSuchClient(LookupError):
    """Raised inside a change to roll it and its ledger entry back: the client named does not exist."""


class ClientRegistrationError(ValueError):
    """A client registration request is inconsistent or malformed; the message says which rule it broke."""


def taxonomy_vocabulary(taxonomy: Taxonomy) -> tuple[frozenset[str], frozenset[str]]:
    """The purposes and recipient organizations a registration may name: the HTTP route and the CLI both
    check against it, so neither admits a client the decision engine could decide nothing for."""
    return frozenset(taxonomy.purposes), frozenset(taxonomy.recipients)


def hash_client_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class RegisteredClient(ClientMixin):  # type: ignore[misc]
    """A client as authlib's authorization server and our dependencies see it."""

    client_id: str
    name: str
    organization: str
    roles: frozenset[Role]
    scopes: frozenset[str]
    allowed_purposes: frozenset[str]
    jurisdiction: str
    auth_method: str
    secret_hash: bytes | None
    jwks: dict[str, Any] | None
    disabled: bool
    created_at: datetime

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """No scope asked: every scope the client holds (RFC 6749 §3.3 lets the server choose a default)."""
        if not scope:
            return " ".join(sorted(self.scopes))
        return " ".join(sorted(s for s in scope.split() if s in self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(hash_client_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.disabled:
            return False
        if self.auth_method == "client_secret_basic":
            return method in SECRET_METHODS
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def public_view(self) -> dict[str, Any]:
        """What the admin API shows: everything but the secret's hash."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "organization": self.organization,
            "roles": sorted(self.roles),
            "scopes": sorted(self.scopes),
            "allowed_purposes": sorted(self.allowed_purposes),
            "jurisdiction": self.jurisdiction,
            "token_endpoint_auth_method": self.auth_method,
            "jwks": self.jwks,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


def _validate_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ClientRegistrationError("jwks must be a JWK Set with at least one key")
    if any(not isinstance(key, dict) or "d" in key for key in keys):
        raise ClientRegistrationError("jwks must hold public keys only (a key has a private part 'd')")
    try:
        KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ClientRegistrationError(f"jwks is not a valid JWK Set: {exc}") from exc
    return dict(jwks)


def _row_to_client(row: Any) -> RegisteredClient:
    created = row["created_at"]
    return RegisteredClient(
        client_id=row["client_id"],
        name=row["name"],
        organization=row["organization"],
        roles=frozenset(Role(r) for r in row["roles"]),
        scopes=frozenset(row["scopes"]),
        allowed_purposes=frozenset(row["allowed_purposes"]),
        jurisdiction=row["jurisdiction"],
        auth_method=row["auth_method"],
        secret_hash=bytes(row["secret_hash"]) if row["secret_hash"] is not None else None,
        jwks=row["jwks"],
        disabled=bool(row["disabled"]),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )


def _check_vocabulary(
    vocabulary: tuple[frozenset[str], frozenset[str]],
    purposes: frozenset[str],
    organization: str,
    roles: frozenset[str],
) -> None:
    known_purposes, known_recipients = vocabulary
    unknown = sorted(purposes - known_purposes)
    if unknown:
        raise ClientRegistrationError(
            f"purposes not in the taxonomy: {', '.join(unknown)} (one of {', '.join(sorted(known_purposes))})"
        )
    if Role.CRM.value in roles and organization not in known_recipients:
        raise ClientRegistrationError(
            f"a CRM client reads for a taxonomy recipient, and {organization!r} is not one "
            f"(one of {', '.join(sorted(known_recipients))})"
        )


class ClientRegistry:
    """SQL-backed client store; secrets are generated here, shown once and kept only as hashes."""

    def __init__(self, engine: Engine, journal: Journal | None = None) -> None:
        self.engine = engine
        # Called with a client id after its registration changed (disabled, new secret), to drop caches.
        self.listeners: list[Callable[[str], None]] = []
        self.journal = journal  # each change is a ledger entry when the runtime provides one

    def _write(
        self, change: Callable[[Connection], T], type: str, actor: str, client_id: str, payload: Mapping[str, Any]
    ) -> T:
        """The change and its ledger entry commit together (`gateway.auth.journal.write`)."""
        return write(
            self.engine,
            self.journal,
            change,
            type,
            actor=actor,
            subject=f"client:{client_id}",
            payload=payload,
            personal=False,
        )

    def _changed(self, client_id: str) -> None:
        for listener in self.listeners:
            listener(client_id)

    def register(
        self,
        *,
        name: str,
        organization: str,
        roles: Iterable[str],
        scopes: Iterable[str],
        allowed_purposes: Iterable[str] = (),
        jurisdiction: str,
        auth_method: str = "client_secret_basic",
        jwks: Mapping[str, Any] | None = None,
        client_id: str | None = None,
        actor: str = "operator",
        vocabulary: tuple[frozenset[str], frozenset[str]] | None = None,
    ) -> tuple[RegisteredClient, str | None]:
        """Admit a client; returns it and, for `client_secret_basic`, the secret (never retrievable again).
        `vocabulary` (the taxonomy's purposes and recipient organizations) refuses purposes, and for a CRM
        client an organization, that no policy decision could be taken on."""
        role_set = frozenset(roles)
        scope_set = frozenset(scopes)
        purposes = frozenset(allowed_purposes)
        client_id = client_id or f"c-{uuid.uuid4().hex}"
        if not _CLIENT_ID.match(client_id):
            raise ClientRegistrationError("client_id: 3-64 characters from A-Z a-z 0-9 . _ -")
        if not name.strip() or not organization.strip():
            raise ClientRegistrationError("name and organization must not be empty")
        unknown_roles = role_set - {r.value for r in CLIENT_ROLES}
        if not role_set or unknown_roles:
            raise ClientRegistrationError(
                f"roles must be a non-empty subset of {sorted(r.value for r in CLIENT_ROLES)}"
            )
        unknown_scopes = scope_set - {s.value for s in Scope}
        if not scope_set or unknown_scopes:
            raise ClientRegistrationError(f"scopes must be a non-empty subset of {sorted(s.value for s in Scope)}")
        for scope in sorted(scope_set):
            if not SCOPE_ROLES[scope] & {Role(r) for r in role_set}:
                allowed = ", ".join(sorted(SCOPE_ROLES[scope]))
                raise ClientRegistrationError(f"scope {scope!r} needs one of the roles: {allowed}")
        if any(not _PURPOSE.match(p) for p in purposes):
            raise ClientRegistrationError("allowed purposes are identifiers (letters, digits, . _ : / -)")
        if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?|EU", jurisdiction):
            raise ClientRegistrationError("jurisdiction: an ISO 3166 code such as CN, DE or EU")
        if auth_method not in AUTH_METHODS:
            raise ClientRegistrationError(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
        secret: str | None = None
        stored_jwks: dict[str, Any] | None = None
        if auth_method == "client_secret_basic":
            if jwks is not None:
                raise ClientRegistrationError("jwks is only for private_key_jwt clients")
            secret = secrets.token_urlsafe(32)
        else:
            if jwks is None:
                raise ClientRegistrationError("private_key_jwt clients need a jwks with their public key")
            stored_jwks = _validate_jwks(jwks)
        if vocabulary is not None:
            _check_vocabulary(vocabulary, purposes, organization.strip(), role_set)
        values = {
            "client_id": client_id,
            "name": name.strip(),
            "organization": organization.strip(),
            "roles": sorted(role_set),
            "scopes": sorted(scope_set),
            "allowed_purposes": sorted(purposes),
            "jurisdiction": jurisdiction,
            "auth_method": auth_method,
            "secret_hash": hash_client_secret(secret) if secret else None,
            "jwks": stored_jwks,
            "disabled": False,
            "created_at": datetime.now(UTC),
        }

        def admit(conn: Connection) -> None:
            if conn.execute(select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == client_id)).first():
                raise ClientRegistrationError(f"client_id {client_id!r} is already registered")
            conn.execute(insert(oauth_clients).values(**values))

        self._write(admit, CLIENT_REGISTERED_EVENT, actor, client_id, {k: values[k] for k in _REGISTRATION_FACTS})
        return _row_to_client(values), secret

    def get(self, client_id: str) -> RegisteredClient | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).mappings().first()
        return _row_to_client(row) if row else None

    def get_for_token(self, client_id: str, jti: str) -> tuple[RegisteredClient | None, bool]:
        """The client and whether the token id is revoked, in one query: the hot path of every bearer call."""
        revoked = exists().where(revoked_tokens.c.jti == jti).label("revoked")
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(oauth_clients, revoked).where(oauth_clients.c.client_id == client_id))
                .mappings()
                .first()
            )
        if row is None:
            return None, False
        return _row_to_client(row), bool(row["revoked"])

    def list(self) -> list[RegisteredClient]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(oauth_clients).order_by(oauth_clients.c.created_at)).mappings().all()
        return [_row_to_client(row) for row in rows]

    def set_disabled(self, client_id: str, disabled: bool, *, actor: str = "operator") -> bool:
        """Disabling takes effect at once: bearer checks load the client on every request."""

        def change(conn: Connection) -> None:
            found = conn.execute(
                update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(disabled=disabled)
            )
            if found.rowcount != 1:
                raise _NoSuchClient(client_id)  # no entry for a client that does not exist

        try:
            self._write(change, CLIENT_DISABLED_EVENT if disabled else CLIENT_ENABLED_EVENT, actor, client_id, {})
        except _NoSuchClient:
            return False
        finally:
            self._changed(client_id)
        return True

    def rotate_secret(self, client_id: str, *, actor: str = "operator") -> str | None:
        client = self.get(client_id)
        if client is None or client.auth_method != "client_secret_basic":
            return None
        secret = secrets.token_urlsafe(32)

        def change(conn: Connection) -> None:
            conn.execute(
                update(oauth_clients)
                .where(oauth_clients.c.client_id == client_id)
                .values(secret_hash=hash_client_secret(secret))
            )

        try:
            self._write(change, CLIENT_ROTATED_EVENT, actor, client_id, {})
        finally:
            self._changed(client_id)
        return secret
