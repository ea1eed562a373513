"""The wiring: everything a running gateway holds (settings, database, keys, stores, the authorization server
and the services built over them), constructed once by `create_app` (or a CLI command).

This is the one place that knows every part. Nothing below it takes the whole `Runtime`: services take the few
collaborators they use, and routes receive those through the `Annotated` dependencies of
`gateway.dependencies`, so routes never construct infrastructure and tests can build a runtime around any
database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from credentials import CredentialService, IssuerKeyring, StatusListRepository
from gateway.analytics import AnalyticsService, Contributions
from gateway.audit.checkpoints import CheckpointBook, note_verifier_keys, open_ledger
from gateway.audit.event_index import EventIndex
from gateway.audit.integrity import LedgerIntegrity
from gateway.audit.journal import AuthorizationJournal
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.authorization_server import GatewayAuthorizationServer
from gateway.auth.bearer import BearerAuthenticator
from gateway.auth.clients import ClientRegistry
from gateway.auth.custody import CustodyVault
from gateway.auth.customers import CustomerStore, LoginThrottle, SessionStore
from gateway.auth.identity_index import IdentityIndex
from gateway.auth.profile_attributes import ProfileAttributeStore
from gateway.auth.rate_limits import RateLimit, RequestLimits
from gateway.auth.rfc9068 import AccessTokenGenerator, AccessTokenVerifier
from gateway.auth.tokens import RevocationList
from gateway.clock import Clock, SystemClock
from gateway.events import EventSigner, Outbox, Webhooks
from gateway.keys import KeyStore
from gateway.proxy.access import AccessFlow
from gateway.proxy.profiles import ProfileFlow
from gateway.retention import Retention
from gateway.rights.access_log import AccessLog
from gateway.rights.erasure import Erasures
from gateway.rights.portability import Portability
from gateway.rights.rectification import Rectifications
from gateway.rights.transfers import Transfers
from gateway.rights.value import Value
from gateway.settings import Settings
from gateway.store.migrate import upgrade_all
from gateway.upstream import UpstreamRegistry
from gateway.web.idempotency import IdempotencyStore
from gateway.web.observability import Metrics
from gateway.zk.queries import ZkQueries
from gateway.zk.relay import Relay
from gateway.zk.service import ZkService
from ledger.store import Ledger
from policies import DEFAULT_MATRIX, DEFAULT_TAXONOMY, PolicyRuntime, open_policies


def key_store(settings: Settings) -> KeyStore:
    return KeyStore(
        settings.data_dir / "keys",
        {
            "token": settings.token_signing_key.get_secret_value() if settings.token_signing_key else None,
            "checkpoint": settings.checkpoint_key.get_secret_value() if settings.checkpoint_key else None,
            "pseudonym": settings.pseudonym_key.get_secret_value() if settings.pseudonym_key else None,
            "custody": settings.custody_key.get_secret_value() if settings.custody_key else None,
        },
    )


def issuer_keyring(settings: Settings) -> IssuerKeyring:
    """The credential issuer's Multikeys: the only home of the keys that sign credentials and did.json lists."""
    return IssuerKeyring.load_or_create(settings.data_dir / "keys" / "credential-issuer.json", settings.issuer_did)


@dataclass
class Runtime:
    settings: Settings
    ledger: Ledger
    engine: Engine
    keys: KeyStore
    metrics: Metrics
    clients: ClientRegistry
    customers: CustomerStore
    sessions: SessionStore
    throttle: LoginThrottle
    revocations: RevocationList
    verifier: AccessTokenVerifier
    bearer: BearerAuthenticator
    oauth: GatewayAuthorizationServer
    idempotency: IdempotencyStore
    checkpoints: CheckpointBook
    events: EventIndex
    policies: PolicyRuntime
    credentials: CredentialService
    upstreams: UpstreamRegistry
    zk: ZkService
    limits: RequestLimits
    pseudonyms: Pseudonyms
    identities: IdentityIndex
    integrity: LedgerIntegrity
    pseudonym_key: bytes = field(default=b"", repr=False)
    # Retention periods are judged by this clock; only a test, in the gateway's own process, sets another.
    clock: Clock = field(default_factory=SystemClock)
    migrated: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Create the data directory and keys if missing, migrate every chain, and wire the stores.

        The ledger opens first (it runs its own migrations and owns the engine); the libraries and the
        gateway then migrate their tables into the same database.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = key_store(settings)
        for ring in ("token", "checkpoint", "events"):
            keys.ring(ring)
        keys.secret("pseudonym")
        ledger = open_ledger(settings.db_url, settings.checkpoint_origin, keys.ring("checkpoint"))
        if settings.ledger_origin is not None and ledger.origin != settings.ledger_origin:
            ledger.close()
            raise ValueError(
                f"CONSENTRY_LEDGER_ORIGIN is {settings.ledger_origin!r} but the ledger was created as "
                f"{ledger.origin!r}; a log's origin never changes (unset it to keep serving this ledger)"
            )
        try:
            migrated = ["ledger", *upgrade_all(ledger.engine)]
            started = cls.assemble(settings, ledger, keys)
        except BaseException:
            ledger.close()
            raise
        started.migrated = migrated
        return started

    @classmethod
    def assemble(cls, settings: Settings, ledger: Ledger, keys: KeyStore) -> Runtime:
        engine = ledger.engine
        pseudonym_key = keys.secret("pseudonym")
        journal = AuthorizationJournal(ledger, Pseudonyms(pseudonym_key))  # authorization actions -> ledger
        clients = ClientRegistry(engine, journal)
        revocations = RevocationList(engine)
        verifier = AccessTokenVerifier(
            keys,
            issuer=settings.issuer,
            audience=settings.audience,
            max_lifetime=settings.access_token_ttl_seconds,
        )
        generator = AccessTokenGenerator(
            keys, issuer=settings.issuer, audience=settings.audience, ttl_seconds=settings.access_token_ttl_seconds
        )
        origin = ledger.origin or settings.checkpoint_origin
        verifier_keys = note_verifier_keys(origin, keys.ring("checkpoint"))
        policies = open_policies(
            settings.db_url,
            pseudonym_key=pseudonym_key,
            taxonomy=settings.taxonomy_path or DEFAULT_TAXONOMY,
            seed_matrix=settings.matrix_path or DEFAULT_MATRIX,
            ledger=ledger,
        )
        credential_service = CredentialService(
            keyring=issuer_keyring(settings),
            repository=StatusListRepository(engine),
            domain=settings.issuer_domain,
            status_url_prefix=f"{settings.issuer}/v1/status-lists",
            receipt_issuer=settings.receipt_issuer,
        )
        upstreams = (
            UpstreamRegistry.from_file(settings.upstreams_path) if settings.upstreams_path else UpstreamRegistry({})
        )
        return cls(
            settings=settings,
            ledger=ledger,
            engine=engine,
            keys=keys,
            metrics=Metrics(),
            clients=clients,
            customers=CustomerStore(engine, CustodyVault.from_secret(keys.secret("custody")), journal),
            sessions=SessionStore(engine, timedelta(seconds=settings.session_ttl_seconds)),
            throttle=LoginThrottle(
                engine,
                settings.login_max_failures,
                timedelta(seconds=settings.login_window_seconds),
                timedelta(seconds=settings.login_lockout_seconds),
            ),
            revocations=revocations,
            verifier=verifier,
            bearer=BearerAuthenticator(verifier, clients, revocations, settings.auth_cache_seconds),
            oauth=GatewayAuthorizationServer(
                registry=clients,
                generator=generator,
                verifier=verifier,
                revocations=revocations,
                issuer=settings.issuer,
                assertion_max_lifetime=settings.client_assertion_max_lifetime_seconds,
            ),
            idempotency=IdempotencyStore(
                engine,
                timedelta(seconds=settings.idempotency_ttl_seconds),
                lease=timedelta(seconds=settings.idempotency_lease_seconds),
            ),
            checkpoints=CheckpointBook(ledger, verifier_keys, origin),
            events=EventIndex(engine, ledger),
            policies=policies,
            credentials=credential_service,
            upstreams=upstreams,
            zk=ZkService.create(
                settings.data_dir / "keys", ledger, frozenset(policies.taxonomy.categories), origin=origin
            ),
            limits=RequestLimits.of(
                token_per_client=RateLimit(settings.token_rate_per_client, settings.token_burst_per_client),
                token_per_address=RateLimit(settings.token_rate_per_address, settings.token_burst_per_address),
                did_challenge=RateLimit(settings.did_challenge_rate, settings.did_challenge_burst),
                client_auth_failures=RateLimit(settings.client_auth_failure_rate, settings.client_auth_failure_burst),
                sign_in_per_address=RateLimit(settings.sign_in_rate_per_address, settings.sign_in_burst_per_address),
                credential_checks_global=RateLimit(settings.credential_check_rate, settings.credential_check_burst),
                password_checks=(settings.password_check_concurrency, settings.password_check_queue),
            ),
            pseudonyms=Pseudonyms(pseudonym_key),
            identities=IdentityIndex(engine, pseudonym_key, journal),
            integrity=LedgerIntegrity(ledger, verifier_keys, origin),
            pseudonym_key=pseudonym_key,
        )

    # The services, each over exactly the parts it uses. Built from the current parts on every access (a few
    # attribute reads), so a part replaced on a running runtime (a test's upstream registry) is the one used.

    @property
    def access(self) -> AccessFlow:
        return AccessFlow(
            upstreams=self.upstreams,
            customers=self.customers,
            policies=self.policies,
            ledger=self.ledger,
            pseudonyms=self.pseudonyms,
            subject_cache_seconds=self.settings.auth_cache_seconds,
            reads_inline=self.engine.dialect.name == "sqlite",
        )

    @property
    def profiles(self) -> ProfileFlow:
        return ProfileFlow(self.access, self.identities, self.settings.profile_source_timeout_seconds)

    @property
    def access_log(self) -> AccessLog:
        return AccessLog(self.events, self.ledger, self.policies.taxonomy, self.pseudonyms)

    @property
    def portability(self) -> Portability:
        return Portability(
            self.policies, self.credentials, self.engine, self.upstreams, self.ledger, self.pseudonyms, self.access_log
        )

    @property
    def erasures(self) -> Erasures:
        return Erasures(
            engine=self.engine,
            ledger=self.ledger,
            upstreams=self.upstreams,
            customers=self.customers,
            policies=self.policies,
            credentials=self.credentials,
            anchors=self.zk.anchors,
            pseudonyms=self.pseudonyms,
            settings=self.settings,
            identities=self.identities,
        )

    @property
    def profile_attributes(self) -> ProfileAttributeStore:
        """Identity data an administrator recorded: sealed under the custody secret, each record a ledger entry."""
        journal = AuthorizationJournal(self.ledger, self.pseudonyms)
        return ProfileAttributeStore(self.engine, self.keys.secret("custody"), journal)

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(
            self.engine,
            self.ledger,
            self.pseudonyms,
            self.policies.taxonomy,
            private_addresses=self.settings.events_private_addresses,
        )

    @property
    def outbox(self) -> Outbox:
        keys = self.keys
        return Outbox(self.engine, EventSigner(lambda: keys.ring("events")), self.settings)

    @property
    def value(self) -> Value:
        return Value(self.engine, self.ledger, self.policies, self.pseudonyms)

    @property
    def transfers(self) -> Transfers:
        return Transfers(self.portability, self.customers, self.engine, self.ledger, self.pseudonyms)

    @property
    def rectifications(self) -> Rectifications:
        return Rectifications(
            engine=self.engine,
            ledger=self.ledger,
            upstreams=self.upstreams,
            customers=self.customers,
            pseudonyms=self.pseudonyms,
            settings=self.settings,
            policies=self.policies,
        )

    @property
    def retention(self) -> Retention:
        return Retention(
            engine=self.engine,
            ledger=self.ledger,
            events=self.events,
            policies=self.policies,
            credentials=self.credentials,
            customers=self.customers,
            upstreams=self.upstreams,
            pseudonyms=self.pseudonyms,
            settings=self.settings,
            clock=self.clock,
        )

    @property
    def contributions(self) -> Contributions:
        return Contributions(self.engine)

    @property
    def analytics(self) -> AnalyticsService:
        return AnalyticsService(
            engine=self.engine,
            ledger=self.ledger,
            decisions=self.policies.engine,
            taxonomy=self.policies.taxonomy,
            matrix_rules=self.policies.matrix.rules,
            upstreams=self.upstreams,
            pseudonym=self.pseudonyms,
            min_cohort=self.settings.analytics_min_cohort,
            max_epsilon=self.settings.analytics_max_epsilon,
        )

    @property
    def zk_queries(self) -> ZkQueries:
        return ZkQueries(
            zk=self.zk,
            customers=self.customers,
            policies=self.policies,
            upstreams=self.upstreams,
            ledger=self.ledger,
            checkpoints=self.checkpoints,
            pseudonyms=self.pseudonyms,
            subject_cache_seconds=self.settings.auth_cache_seconds,
        )

    @property
    def zk_relay(self) -> Relay:
        return Relay(self.zk_queries)

    def subject_pseudonym(self, subject_id: str) -> str:
        """The ledger subject for a customer id: keyed HMAC, so the ledger never holds the raw id."""
        return self.pseudonyms(subject_id)

    def close(self) -> None:
        """Finish queued ledger appends, then release the database."""
        self.policies.close()
        self.ledger.close()
