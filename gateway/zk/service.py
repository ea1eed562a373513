"""The zero-knowledge part of a running gateway: attribute registry, anchors, sealing key and nonces.

Configured by `CONSENTRY_ZK_*` variables (its own settings object, so the feature adds no fields to
the gateway's shared settings): the sealing key, an alternative attribute registry, the upstream that
values are ingested from, the validity window of a proof (which is also the nonce window), and the
per-client query rate limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.auth.rate_limits import RateLimit, RateLimiter
from gateway.upstream import UpstreamRegistry
from gateway.zk.anchors import Anchorer, AnchorStore
from gateway.zk.attributes import DEFAULT_ATTRIBUTES, AttributeRegistry, ZkAttribute
from gateway.zk.nonces import NonceBook
from gateway.zk.sealing import OpeningSealer, load_opening_key
from gateway.zk.signals import Signals
from gateway.zk.templates import TemplateBooks
from keyfiles import KeyDirectory
from ledger import cosigner_verifier_key, generate_cosigner_key
from ledger.store import Ledger
from zkp import parse_source_keys

CLOCK_KEY_FILE = "zk-clock.key"


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
    threshold_queries: bool = Field(
        default=False,
        description="Serve `POST /v1/zk/queries` (the gateway proves any predicate the caller names from openings "
        "it holds). Off by default: free thresholds make a comparison oracle; ask declared templates instead.",
    )
    source_keys: str = Field(
        default="",
        description="Source systems' statement verifier keys (C2SP signed-note keys), a JSON list or one per "
        "line; only statements they signed are anchored, and `GET /v1/zk/trust` publishes them.",
    )
    answer_wait_seconds: int = Field(
        default=10, ge=0, le=30, description="How long a question waits for the wallet before `customer-unavailable`."
    )
    max_question_seconds: int = Field(
        default=300, ge=10, le=3600, description="The longest a question may stay open (`expires_at - asked_at`)."
    )
    clock_skew_seconds: int = Field(
        default=60, ge=1, le=600, description="How far a question's `asked_at` may be from the gateway's clock."
    )

    def source_key_list(self) -> list[str]:
        text = self.source_keys.strip()
        if not text:
            return []
        if text.startswith("["):
            keys = json.loads(text)
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError("CONSENTRY_ZK_SOURCE_KEYS is a JSON list of key strings")
            return keys
        return [line.strip() for line in text.splitlines() if line.strip()]


def load_clock_key(directory: Path, origin: str) -> str:
    """The gateway's clock (C2SP cosigner) key, created 0600 on first use: it cosigns every checkpoint served
    as evidence with the time it was served, which verifiers judge a statement's freshness by."""
    keys = KeyDirectory(directory)
    if keys.read(CLOCK_KEY_FILE) is None:
        keys.create(CLOCK_KEY_FILE, generate_cosigner_key(f"{origin}/clock")[0].encode())
    data = keys.read(CLOCK_KEY_FILE)
    assert data is not None
    return data.decode().strip()


def load_registry(categories: frozenset[str], settings: ZkSettings | None = None) -> AttributeRegistry:
    """The attribute registry this gateway answers about (the configured file, else the bundled one)."""
    settings = settings or ZkSettings()
    return AttributeRegistry.load(settings.attributes_path or DEFAULT_ATTRIBUTES, categories)


@dataclass
class ZkService:
    settings: ZkSettings
    registry: AttributeRegistry
    anchors: AnchorStore
    anchorer: Anchorer
    nonces: NonceBook
    limiter: RateLimiter
    templates: TemplateBooks
    source_keys: tuple[str, ...]
    clock_key: str = field(repr=False)
    signals: Signals = field(default_factory=Signals)

    @property
    def clock_verifier_key(self) -> str:
        return cosigner_verifier_key(self.clock_key)

    @classmethod
    def create(
        cls,
        key_directory: Path,
        ledger: Ledger,
        categories: frozenset[str],
        settings: ZkSettings | None = None,
        *,
        origin: str = "consentry",
    ) -> ZkService:
        settings = settings or ZkSettings()
        override = settings.opening_key.get_secret_value() if settings.opening_key else None
        sealer = OpeningSealer(load_opening_key(key_directory, override))
        registry = load_registry(categories, settings)
        store = AnchorStore(ledger.engine)
        limiter = RateLimiter(RateLimit(settings.query_rate, settings.query_burst))
        source_keys = tuple(settings.source_key_list())
        parse_source_keys(source_keys)  # a malformed key is a start-up error, not a refused statement later
        return cls(
            settings,
            registry,
            store,
            Anchorer(ledger, store, sealer),
            NonceBook(ledger.engine),
            limiter,
            TemplateBooks(registry),
            source_keys,
            load_clock_key(key_directory, origin),
        )

    def source_for(self, attribute: ZkAttribute, upstreams: UpstreamRegistry) -> str | None:
        """The upstream to ingest `attribute` from: the configured one, or the first that maps its category."""
        if self.settings.source is not None:
            return self.settings.source
        for name in upstreams.names:
            if attribute.category in upstreams.config(name).field_map.categories:
                return name
        return None
