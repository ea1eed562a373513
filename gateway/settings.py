"""All configuration in one object, read from `CONSENTRY_*` environment variables.

One object so that the CLI, the app factory and the tests agree on defaults, and so a deployment can be
described by its environment alone (twelve-factor). Secrets are `SecretStr` so they never reach a log line.
"""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from credentials import did_web_from_domain


class Settings(BaseSettings):
    """The gateway's configuration; every field maps to `CONSENTRY_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="CONSENTRY_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("data"), description="Holds the embedded database and the key files (mode 0600)."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: embedded SQLite `consentry.db` in the data directory."
    )
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="Public base URL of this gateway: the OAuth `iss`, the token audience and the did:web domain.",
    )
    receipt_issuer: Literal["did:web", "did:key"] = Field(
        default="did:web",
        description="Who signs the consent receipts: the gateway's did:web, or the did:key of its current issuer key "
        "(listed in the did:web document's `alsoKnownAs`) for verifiers that resolve only did:key.",
    )
    ledger_origin: str | None = Field(
        default=None,
        description="Checkpoint origin line (and note key name) given to a ledger when it is created, then stored "
        "with it: moving the gateway to another URL keeps its ledger's name. Default: `<issuer host and path>/ledger`.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="Requests with a larger body get 413.")
    access_token_ttl_seconds: int = Field(default=900, gt=0, le=86_400)
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How stale a cached client registration or revocation list may be (other processes' "
        "changes apply within this time); 0 reads the database on every request.",
    )
    session_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    login_max_failures: int = Field(default=5, gt=0, description="Failed logins within the window before lockout.")
    login_window_seconds: int = Field(default=900, gt=0)
    login_lockout_seconds: int = Field(default=900, gt=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    idempotency_lease_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How long a request owns its Idempotency-Key while it runs; a claim left by a process that died "
        "expires after it, and a retry then runs the request again against the current state.",
    )
    token_rate_per_client: float = Field(
        default=10.0, gt=0, description="Token requests per second one client_id may make, sustained (429 beyond)."
    )
    token_burst_per_client: int = Field(default=60, ge=1, description="Token requests one client_id may make at once.")
    token_rate_per_address: float = Field(
        default=50.0, gt=0, description="Token requests per second from one remote address, sustained."
    )
    token_burst_per_address: int = Field(default=200, ge=1, description="Token requests one address may make at once.")
    did_challenge_rate: float = Field(
        default=1.0,
        gt=0,
        description="DID challenges per second, sustained, per signed-in customer (binding) and per remote "
        "address (wallet sign-in).",
    )
    did_challenge_burst: int = Field(default=20, ge=1, description="DID challenges that may be issued at once.")
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated IP addresses or CIDR networks of the reverse proxies in front of the gateway. "
        "A request whose TCP peer is one of them is limited under the rightmost `X-Forwarded-For` address that is "
        "not; default: none, so the peer address counts and `X-Forwarded-For` is ignored.",
    )
    custody_key: SecretStr | None = Field(
        default=None,
        description="Base64url key (32+ bytes) that seals the private keys of custodial customer DIDs; default: "
        "generated in the data directory (`keys/custody.secret`, mode 0600).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    token_signing_key: SecretStr | None = Field(
        default=None,
        description="P-256 private JWK (JSON) for ES256 access tokens; default: generated in the data directory.",
    )
    checkpoint_key: SecretStr | None = Field(
        default=None, description="Ed25519 private JWK (JSON) for ledger checkpoints."
    )
    pseudonym_key: SecretStr | None = Field(default=None, description="Base64url HMAC key for subject pseudonyms.")
    taxonomy_path: Path | None = Field(
        default=None, description="The enterprise taxonomy (YAML); default: the bundled automaker taxonomy."
    )
    matrix_path: Path | None = Field(
        default=None,
        description="Authorization matrix stored as version 1 when the database has none; default: the bundled one.",
    )
    upstreams_path: Path | None = Field(
        default=None, description="Registry of source systems and their field maps (YAML); default: none."
    )
    erasure_attempts: int = Field(default=5, ge=1, le=20, description="Tries per source system for one erasure.")
    erasure_lease_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How long one runner owns an erasure before another process may resume it (renewed per source).",
    )
    erasure_backoff_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Wait before the second try of an erasure; doubles for each further try."
    )
    retention_interval_seconds: float = Field(
        default=3600,
        gt=0,
        le=86_400,
        description="How often each gateway process runs the retention enforcer (one process acts at a time).",
    )
    retention_lease_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How long one process owns a retention run before another may take over (renewed per step).",
    )
    retention_notice_days: int = Field(
        default=30, ge=0, le=365, description="Days before a consent lapses that the portal tells the customer."
    )
    retention_deletion_attempts: int = Field(
        default=5, ge=1, le=50, description="Runs in which a source system is asked to delete before it is 'failed'."
    )
    retention_batch: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Ledger payloads one retention erasure entry covers (each batch is one ledger entry).",
    )
    ledger_self_audit_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How often the gateway re-hashes its stored ledger entries against its latest signed checkpoint "
        "(also at start-up); while they differ it is not ready and the proxy releases nothing.",
    )
    analytics_min_cohort: int = Field(
        default=20,
        ge=2,
        le=10_000_000,
        description="Fewest consenting customers an aggregate statistic is computed on.",
    )
    analytics_max_epsilon: float = Field(
        default=5.0, gt=0, le=100, description="The most privacy budget (epsilon) one aggregate query may spend."
    )
    metrics_address: str | None = Field(
        default=None,
        description="`host:port` on which `consentry serve` exposes Prometheus metrics to anyone who can reach it "
        "(bind it to an internal interface); `/metrics` on the main port then answers 404. Default: none, and "
        "`/metrics` on the main port needs an access token with the `metrics` scope.",
    )
    max_request_head_bytes: int = Field(
        default=32_768,
        ge=4096,
        le=1_048_576,
        description="Largest request line plus headers `consentry serve` reads; a larger head gets 431 and the "
        "connection is closed.",
    )
    client_assertion_max_lifetime_seconds: int = Field(
        default=300,
        ge=30,
        le=86_400,
        description="Latest `exp` a private_key_jwt client assertion may carry, in seconds from now (401 "
        "`invalid_client` beyond): the replay guard keeps each assertion's jti until it expires.",
    )
    sign_in_rate_per_address: float = Field(
        default=1.0, gt=0, description="Password sign-ins per second from one remote address, sustained (429 beyond)."
    )
    sign_in_burst_per_address: int = Field(
        default=30, ge=1, description="Password sign-ins one address may make at once."
    )
    credential_check_rate: float = Field(
        default=200.0,
        gt=0,
        description="Credential checks per second of the whole process, every caller together (password sign-ins, "
        "token requests, introspection and revocation): 429 beyond, whoever asks.",
    )
    credential_check_burst: int = Field(default=400, ge=1, description="Credential checks the process takes at once.")
    password_check_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Password hashes (argon2id, 64 MiB each) computed at once per process; further sign-ins queue.",
    )
    password_check_queue: int = Field(
        default=32, ge=0, le=10_000, description="Sign-ins that may wait for a hash; beyond, 429 with Retry-After."
    )
    client_auth_failure_rate: float = Field(
        default=0.5,
        gt=0,
        description="Failed client authentications per second, sustained, at introspection and revocation, per "
        "remote address and per (client_id, address): 429 beyond the burst.",
    )
    client_auth_failure_burst: int = Field(
        default=20, ge=1, description="Failed client authentications at introspection and revocation at once."
    )

    profile_source_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Deadline of each source's fetch in a profile read (GET /v1/profiles)."
    )
    events_poll_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often each process looks for change events due for delivery."
    )
    events_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="How long one process owns a delivery attempt before another may take it over.",
    )
    events_backoff_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="Wait before a failed delivery's second try; doubles per further try."
    )
    events_backoff_max_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="The longest wait between two tries of one delivery."
    )
    events_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Deadline of one webhook delivery (connect, send, answer)."
    )
    events_private_addresses: bool = Field(
        default=False,
        description="Allow webhooks on loopback, private and link-local addresses (off: server-side request "
        "forgery; the demo's receiver on 127.0.0.1 turns it on).",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("issuer must be an http(s) base URL without query or fragment")
        return value.rstrip("/")

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address_is_host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, colon, port = value.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("metrics_address must be host:port, e.g. 127.0.0.1:9464")
        return value

    @property
    def metrics_listen(self) -> tuple[str, int] | None:
        """`metrics_address` as (host, port); an IPv6 host may be written in brackets."""
        if self.metrics_address is None:
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies_are_networks(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        return _parse_trusted_proxies(value) if isinstance(value, str) else value

    @cached_property
    def db_url(self) -> str:
        """The database URL in effect: explicit, or SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'consentry.db').resolve()}"

    @property
    def issuer_domain(self) -> str:
        """Host (and port when not default) of the issuer, as did:web and presentation `domain` use it."""
        return urlsplit(self.issuer).netloc

    @property
    def issuer_did(self) -> str:
        """The gateway's did:web, whose document `/.well-known/did.json` serves."""
        return did_web_from_domain(self.issuer_domain)

    @property
    def checkpoint_origin(self) -> str:
        """The origin a new ledger is created with; the issuer's path is part of it, so two gateways under one host
        name two logs."""
        return self.ledger_origin or f"{self.issuer_domain}{urlsplit(self.issuer).path.rstrip('/')}/ledger"

    @property
    def audience(self) -> str:
        """Access tokens are minted for this gateway only (RFC 9068 §3 `aud`)."""
        return self.issuer

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` whenever the public URL is https."""
        return urlsplit(self.issuer).scheme == "https"


def _parse_trusted_proxies(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`CONSENTRY_TRUSTED_PROXIES` as networks (an address is its own /32 or /128).

    Strict, because a mistake here decides whose word the gateway takes for a caller's address: a host
    name is not resolved, a network with host bits set is refused rather than widened, and a /0 is refused
    because trusting every peer would let any caller name its own rate-limit key.
    """
    if not value.strip():
        return ()
    networks = []
    for position, entry in enumerate(value.split(","), start=1):
        text = entry.strip()
        if not text:
            raise ValueError(f"entry {position} is empty (expected IP addresses or CIDR networks, comma-separated)")
        try:
            network = ip_network(text)
        except ValueError:
            try:
                widened = ip_network(text, strict=False)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not an IP address or CIDR network (host names are not resolved)"
                ) from None
            raise ValueError(f"{text!r} has host bits set; the network is {widened}") from None
        if network.prefixlen == 0:
            raise ValueError(f"{text!r} trusts every address, so any caller could choose its own address")
        networks.append(network)
    return tuple(networks)
