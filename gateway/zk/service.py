"""The zero-knowledge part of a running gateway: attribute registry, anchors, sealing key and nonces.

Configured by `CONSENTRY_ZK_*` variables (its own settings object, so the feature adds no fields to
the gateway's shared settings): the sealing key, an alternative attribute registry, the upstream that
values are ingested from, the validity window of a proof (which is also the nonce window), and the
per-client query rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.auth.rate_limits import RateLimit, RateLimiter
from gateway.upstream import UpstreamRegistry
from gateway.zk.anchors import Anchorer, AnchorStore
from gateway.zk.attributes import DEFAULT_ATTRIBUTES, AttributeRegistry, ZkAttribute
from gateway.zk.nonces import NonceBook
from gateway.zk.sealing import OpeningSealer, load_opening_key
from ledger.store import Ledger


class ZkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_ZK_", extra="ignore", frozen=True)

    opening_key: SecretStr | None = Field(
        default=None,
        description="Base64url secret (≥ 32 bytes) sealing openings; default: `keys/zk-opening.secret` (0600).",
    )
    attributes_path: Path | None = Field(default=None, description="Attribute registry (YAML); default: bundled.")
    source: str | None = Field(
        default=None,
        description="Upstream that attribute values are ingested from; default: the first whose field map "
        "maps the attribute's category.",
    )
    proof_ttl_seconds: int = Field(
        default=300, gt=0, le=86_400, description="How long an answer's context is valid; nonces stay used as long."
    )
    # A 48-bit range proof costs about 140 ms of CPU on the 2-core development machine, and every query, refused
    # ones too, is a ledger entry: the defaults let a client burst through a batch, then hold it to a pace.
    query_rate: float = Field(
        default=2.0,
        gt=0,
        description="Predicate queries per second one client may make, sustained (429 beyond); per process.",
    )
    query_burst: int = Field(default=30, ge=1, description="Predicate queries one client may make at once.")


@dataclass
class ZkService:
    settings: ZkSettings
    registry: AttributeRegistry
    anchors: AnchorStore
    anchorer: Anchorer
    nonces: NonceBook
    limiter: RateLimiter

    @classmethod
    def create(
        cls, key_directory: Path, ledger: Ledger, categories: frozenset[str], settings: ZkSettings | None = None
    ) -> ZkService:
        settings = settings or ZkSettings()
        override = settings.opening_key.get_secret_value() if settings.opening_key else None
        sealer = OpeningSealer(load_opening_key(key_directory, override))
        registry = AttributeRegistry.load(settings.attributes_path or DEFAULT_ATTRIBUTES, categories)
        store = AnchorStore(ledger.engine)
        limiter = RateLimiter(RateLimit(settings.query_rate, settings.query_burst))
        return cls(settings, registry, store, Anchorer(ledger, store, sealer), NonceBook(ledger.engine), limiter)

    def source_for(self, attribute: ZkAttribute, upstreams: UpstreamRegistry) -> str | None:
        """The upstream to ingest `attribute` from: the configured one, or the first that maps its category."""
        if self.settings.source is not None:
            return self.settings.source
        for name in upstreams.names:
            if attribute.category in upstreams.config(name).field_map.categories:
                return name
        return None
