"""Who is calling: the principals a route's dependencies hand to it, and the roles and scopes they carry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies import SubjectContext


class Role(StrEnum):
    """The four kinds of caller; every route names the roles it admits."""

    CUSTOMER = "customer"
    CRM = "crm"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Scope(StrEnum):
    """OAuth scopes an access token may carry."""

    PROXY = "proxy"
    ZK = "zk"
    ANALYTICS = "analytics"
    LEDGER_READ = "ledger:read"
    ADMIN = "admin"
    METRICS = "metrics"


CLIENT_ROLES = frozenset({Role.CRM, Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True)
class ClientPrincipal:
    """An OAuth client calling with a valid access token."""

    client_id: str
    organization: str
    roles: frozenset[Role]
    scopes: frozenset[str]
    allowed_purposes: frozenset[str]
    jurisdiction: str
    token_id: str
    token_expires_at: int

    @property
    def actor(self) -> str:
        """How this caller appears as `actor` in ledger events."""
        return f"client:{self.client_id}"


@dataclass(frozen=True)
class CustomerPrincipal:
    """A customer signed in through a session cookie."""

    customer_id: str
    username: str
    display_name: str
    jurisdiction: str
    did: str | None
    customer_type: str = "standard"
    source_subject: str | None = None

    @property
    def actor(self) -> str:
        return f"customer:{self.customer_id}"

    @property
    def subject_context(self) -> SubjectContext:
        """Who the data is about, as every decision about this stored customer sees them: the proxy, the portal,
        zero-knowledge answers and `consentry policy explain` alike (issue 14: explain once assumed `standard`)."""
        return SubjectContext(self.customer_id, self.customer_type, self.jurisdiction)
