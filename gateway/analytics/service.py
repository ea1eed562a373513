"""One aggregate query, end to end: purpose, budget, cohort read page by page, OpenDP release, budget spend and
ledger entry in one transaction, answer.

The order is the privacy argument. The budget is checked before anything is read; every value counts only if
the matrix and the customer's consents allow `aggregate` for this recipient, purpose and category; values live
only in the page being read (never stored or logged: contributions are recorded by pseudonym); no answer leaves
below the minimum cohort; and the noisy answer, computed in memory, leaves only after the ledger entry that
records the query and spends its ε has committed. If that spend finds the budget gone (another process spent it
meanwhile), the answer is dropped and nothing is recorded.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from gateway.analytics.budget import BudgetExceeded, BudgetKey, BudgetState, BudgetStore, period_bounds
from gateway.analytics.bulk_reader import read_pages
from gateway.analytics.cohort import admitted
from gateway.analytics.contributions import Contributions, QueryRecord, RepeatedContributor
from gateway.analytics.dp import CONFIDENCE, DpQuery, PrivateStatistic, Release, Statistic
from gateway.analytics.policy import aggregate_budget
from gateway.audit.refusals import COHORT_TOO_SMALL, purpose_not_allowed, purpose_refusal, refusal
from gateway.upstream import (
    AnalyticsAttribute,
    CircuitOpen,
    UnknownUpstream,
    UpstreamConfig,
    UpstreamFailure,
    UpstreamRegistry,
    resolve_pointer,
)
from gateway.web.problems import Problem
from ledger import Event
from ledger.store import Ledger
from policies import DecisionEngine, MatrixRule, StateUnavailableError, Taxonomy, UnknownNameError

__all__ = ["QUERY_EVENT", "AnalyticsQuery", "AnalyticsService", "Requester"]

log = structlog.get_logger("gateway.analytics")

QUERY_EVENT = "analytics.query"
DEFAULT_BINS = 20
MAX_BINS = 100
DEFAULT_CANDIDATES = 101
_CONTRIBUTION_BATCH = 10_000
MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class Requester:
    """The calling client as the analytics service needs it (no whole principal: only these fields)."""

    client_id: str
    organization: str
    actor: str
    allowed_purposes: frozenset[str]


@dataclass(frozen=True)
class AnalyticsQuery:
    source: str
    attribute: str
    statistic: Statistic
    epsilon: float
    group_by: str | None = None
    bins: tuple[float, ...] | None = None
    bin_count: int | None = None
    quantile: float | None = None
    candidates: tuple[float, ...] | None = None


def _invalid(detail: str) -> Problem:
    return Problem(400, "invalid-analytics-query", detail)


@dataclass(frozen=True)
class _Plan:
    """A validated query: the DP statistic to compute and how to read each item's value and group."""

    config: UpstreamConfig
    attribute: AnalyticsAttribute
    group: AnalyticsAttribute | None
    dp: DpQuery
    categories: tuple[str, ...]
    bins: list[Any] | None

    def value(self, item: Any) -> int | None:
        raw = resolve_pointer(item, self.attribute.selector)
        if self.attribute.type == "category":
            return self.attribute.values.index(raw) if isinstance(raw, str) and raw in self.attribute.values else None
        return self.attribute.scaled(raw)

    def group_of(self, item: Any) -> int | None:
        if self.group is None:
            return 0
        raw = resolve_pointer(item, self.group.selector)
        return self.group.values.index(raw) if isinstance(raw, str) and raw in self.group.values else None


class AnalyticsService:
    """Answers aggregate queries. Takes the collaborators it uses; one per process."""

    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        decisions: DecisionEngine,
        taxonomy: Taxonomy,
        matrix_rules: Callable[[], Sequence[MatrixRule]],
        upstreams: UpstreamRegistry,
        pseudonym: Callable[[str], str],
        min_cohort: int,
        max_epsilon: float,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._decisions = decisions
        self._taxonomy = taxonomy
        self._rules = matrix_rules
        self._upstreams = upstreams
        self._pseudonym = pseudonym
        self.min_cohort = min_cohort
        self.max_epsilon = max_epsilon
        self.budgets = BudgetStore(engine)
        self.contributions = Contributions(engine)

    def plan(self, query: AnalyticsQuery) -> _Plan:
        """Validate a query against the source's registration; raises a 400/404 Problem."""
        try:
            config = self._upstreams.config(query.source)
        except UnknownUpstream:
            raise Problem(404, "not-found", "No source offers aggregates under that name.") from None
        if config.bulk is None:
            raise Problem(404, "not-found", "No source offers aggregates under that name.")
        attribute = config.attribute(query.attribute)
        if attribute is None:
            raise _invalid(f"The source declares no attribute {query.attribute!r} for aggregates.")
        group = None
        if query.group_by is not None:
            group = config.attribute(query.group_by)
            if group is None or group.type != "category":
                raise _invalid("group_by must name one of the source's declared category attributes.")
            if group.name == attribute.name:
                raise _invalid("An attribute cannot be grouped by itself.")
        if not math.isfinite(query.epsilon) or not 0 < query.epsilon <= self.max_epsilon:
            raise _invalid(f"epsilon must be greater than 0 and at most {self.max_epsilon:g}.")
        groups = len(group.values) if group is not None else 1
        categories = tuple(dict.fromkeys([attribute.category, *([group.category] if group else [])]))
        for category in categories:
            if category not in self._taxonomy.categories:
                raise Problem(409, "attribute-not-decidable", "The attribute's data category is not in the taxonomy.")
        numeric = attribute.type != "category"
        kind = query.statistic
        if kind in (Statistic.SUM, Statistic.MEAN, Statistic.QUANTILE) and not numeric:
            raise _invalid(f"A {kind.value} needs a numeric attribute.")
        if kind is not Statistic.HISTOGRAM and (query.bins is not None or query.bin_count is not None):
            raise _invalid("bins and bin_count belong to a histogram.")
        if kind is not Statistic.QUANTILE and (query.quantile is not None or query.candidates is not None):
            raise _invalid("quantile and candidates belong to a quantile.")
        if not numeric:
            last = max(len(attribute.values) - 1, 1)
            edges = tuple(range(len(attribute.values) + 1))
            dpq = DpQuery(kind, 0, last, groups, edges=edges if kind is Statistic.HISTOGRAM else ())
            if kind is Statistic.HISTOGRAM and query.bins is not None:
                raise _invalid("A category attribute's histogram counts its declared values; it takes no bins.")
            return _Plan(config, attribute, group, dpq, categories, list(attribute.values))
        low, high = attribute.scaled_bounds
        step = attribute.step
        if kind is Statistic.HISTOGRAM:
            edges = self._edges(query, attribute, low, high)
            labels = [[e * step, f * step] for e, f in itertools.pairwise(edges)]
            return _Plan(config, attribute, group, DpQuery(kind, low, high, groups, edges=edges), categories, labels)
        if kind is Statistic.QUANTILE:
            alpha = 0.5 if query.quantile is None else query.quantile
            if not 0 < alpha < 1:
                raise _invalid("quantile must be strictly between 0 and 1 (0.5 is the median).")
            candidates = self._candidates(query, attribute, low, high)
            dpq = DpQuery(kind, low, high, groups, candidates=candidates, alpha=alpha)
            return _Plan(config, attribute, group, dpq, categories, None)
        return _Plan(config, attribute, group, DpQuery(kind, low, high, groups), categories, None)

    @staticmethod
    def _edges(query: AnalyticsQuery, attribute: AnalyticsAttribute, low: int, high: int) -> tuple[int, ...]:
        if query.bins is not None:
            if query.bin_count is not None:
                raise _invalid("Give either bins (the edges) or bin_count, not both.")
            edges = tuple(attribute.scaled(e) for e in query.bins)
            if any(e is None for e in edges):
                raise _invalid("bins must be finite numbers.")
            scaled = tuple(e for e in edges if e is not None)
            if not 2 <= len(scaled) <= MAX_BINS + 1 or list(scaled) != sorted(set(scaled)):
                raise _invalid(f"bins are 2 to {MAX_BINS + 1} increasing edges.")
            if scaled[0] < low or scaled[-1] > high:
                raise _invalid("bins must lie within the attribute's declared bounds.")
            return scaled
        count = DEFAULT_BINS if query.bin_count is None else query.bin_count
        if not 1 <= count <= MAX_BINS or count > high - low:
            raise _invalid(f"bin_count must be between 1 and {MAX_BINS} (and no finer than the attribute's steps).")
        return tuple(sorted({low + (high - low) * i // count for i in range(count + 1)}))

    @staticmethod
    def _candidates(query: AnalyticsQuery, attribute: AnalyticsAttribute, low: int, high: int) -> tuple[int, ...]:
        if query.candidates is None:
            count = min(DEFAULT_CANDIDATES, high - low + 1)
            return tuple(sorted({low + (high - low) * i // (count - 1) for i in range(count)}))
        scaled = [attribute.scaled(c) for c in query.candidates]
        values = [c for c in scaled if c is not None]
        if len(values) != len(scaled) or not 1 <= len(values) <= MAX_CANDIDATES or values != sorted(set(values)):
            raise _invalid(f"candidates are 1 to {MAX_CANDIDATES} increasing numbers.")
        if values[0] < low or values[-1] > high:
            raise _invalid("candidates must lie within the attribute's declared bounds.")
        return tuple(values)

    def budget_for(
        self, organization: str, purpose: str, plan: _Plan, at: datetime
    ) -> tuple[BudgetKey, float, datetime]:
        try:
            recipient = self._taxonomy.recipient(organization)
        except UnknownNameError:
            raise Problem(403, "unknown-recipient", "Your organization is not a registered data recipient.") from None
        budget = aggregate_budget(self._taxonomy, self._rules(), recipient.role, purpose, plan.categories)
        if budget is None:
            raise Problem(
                403,
                "aggregate-not-allowed",
                "The authorization matrix allows your organization no statistics of this data for this purpose.",
            )
        label, _, end = period_bounds(budget.period, at)
        names = (plan.attribute.name, *([plan.group.name] if plan.group else []))
        return BudgetKey(organization, purpose, plan.config.name, names, label), budget.epsilon, end

    async def answer(self, requester: Requester, purpose: str | None, query: AnalyticsQuery) -> dict[str, Any]:
        """Run one query; raises `Problem` for every refusal (nothing released, nothing spent)."""
        if purpose and purpose not in requester.allowed_purposes:
            raise await self._refuse_purpose(requester, purpose, query)
        purpose = _require_purpose(requester, purpose)
        try:
            self._taxonomy.purpose(purpose)
        except UnknownNameError:
            raise Problem(400, "unknown-purpose", f"The taxonomy has no purpose {purpose!r}.") from None
        plan = self.plan(query)
        now = datetime.now(UTC)
        key, total, resets_at = self.budget_for(requester.organization, purpose, plan, now)
        state = await run_in_threadpool(self.budgets.state, key, total, resets_at)
        statistic = PrivateStatistic(plan.dp, query.epsilon)
        if state.remaining + 1e-9 < statistic.epsilon:
            raise _over_budget(state)
        record = QueryRecord(
            query_id=str(uuid.uuid4()),
            organization=requester.organization,
            client_id=requester.client_id,
            purpose=purpose,
            source=plan.config.name,
            statistic=plan.dp.statistic.value,
            attribute=plan.attribute.name,
            group_by=plan.group.name if plan.group else None,
            epsilon=statistic.epsilon,
            delta=0.0,
            period=key.period,
            created_at=now,
        )
        await run_in_threadpool(self.contributions.begin, record)
        try:
            await self._read_cohort(requester, purpose, plan, statistic, record.query_id)
            if statistic.cohort < self.min_cohort:
                raise await self._refuse_small_cohort(requester, record)
            release = statistic.release()
            index, spent = await self._record(requester, record, key, total, resets_at)
        except BaseException:
            await run_in_threadpool(self.contributions.discard, record.query_id)
            raise
        log.info(
            "analytics_query",
            query_id=record.query_id,
            statistic=record.statistic,
            source=record.source,
            attribute=record.attribute,
            epsilon=record.epsilon,
            ledger_index=index,
        )
        return _answer(plan, record, release, spent, index, self.min_cohort)

    async def _refuse_purpose(self, requester: Requester, purpose: str, query: AnalyticsQuery) -> Problem:
        """As the proxy's; an aggregate names no customer, so the client is the entry's subject."""
        event = purpose_refusal(
            requester.actor,
            requester.actor,
            requester.organization,
            requester.client_id,
            purpose,
            source=query.source,
            attribute=query.attribute,
        )
        return purpose_not_allowed(purpose, await self._append_refusal(event))

    async def _refuse_small_cohort(self, requester: Requester, record: QueryRecord) -> Problem:
        """Ledgered like every other refusal, so an auditor sees a partner probing small cohorts; the entry names
        the query and the minimum, never how many customers were counted (a count that small is itself personal)."""
        event = refusal(
            requester.actor,
            requester.actor,
            requester.organization,
            requester.client_id,
            record.purpose,
            COHORT_TOO_SMALL,
            source=record.source,
            attribute=record.attribute,
            statistic=record.statistic,
            query_id=record.query_id,
            minimum_cohort=self.min_cohort,
        )
        index = await self._append_refusal(event)
        return Problem(
            403,
            COHORT_TOO_SMALL,
            f"Fewer than {self.min_cohort} consenting customers: no statistic is computed on so few.",
            headers={"Consentry-Ledger-Index": str(index)},
            minimum_cohort=self.min_cohort,
            ledger_index=index,
        )

    async def _append_refusal(self, event: Event) -> int:
        try:
            return await self._ledger.append_async(event)
        except Exception as exc:  # the refusal cannot be recorded: say only that
            log.error("ledger_append_failed", error_type=type(exc).__name__, event_type=event.type)
            raise Problem(503, "ledger-unavailable", "The query cannot be recorded, so nothing is released.") from None

    async def _read_cohort(
        self, requester: Requester, purpose: str, plan: _Plan, statistic: PrivateStatistic, query_id: str
    ) -> None:
        client = self._upstreams.client(plan.config.name)
        # contributors' pseudonyms are written a batch at a time (one commit per batch, a bounded buffer)
        batch: list[str] = []
        try:
            async for page in read_pages(client, plan.config):
                batch += await run_in_threadpool(self._count_page, requester, purpose, plan, statistic, page)
                if len(batch) >= _CONTRIBUTION_BATCH:
                    await run_in_threadpool(self.contributions.add, query_id, batch)
                    batch = []
            await run_in_threadpool(self.contributions.add, query_id, batch)
        except RepeatedContributor:
            # a customer counted twice would break the privacy guarantee (it assumes one value per customer)
            raise Problem(
                502, "upstream-response-refused", "The source listed a customer more than once; nothing is computed."
            ) from None
        except CircuitOpen as exc:
            raise Problem(
                exc.status_code, exc.problem_type, str(exc), headers={"Retry-After": str(max(1, int(exc.retry_after)))}
            ) from None
        except UpstreamFailure as exc:
            raise Problem(exc.status_code, exc.problem_type, str(exc)) from None
        except StateUnavailableError:
            log.warning("policy_state_unavailable")
            raise Problem(503, "policy-unavailable", "Consent state cannot be read; nothing is computed.") from None

    def _count_page(
        self,
        requester: Requester,
        purpose: str,
        plan: _Plan,
        statistic: PrivateStatistic,
        page: list[tuple[str, Any]],
    ) -> list[str]:
        """Count one page: the values of its admitted customers go into the statistic and nowhere else; returns
        the admitted customers' pseudonyms."""
        readings: dict[str, tuple[int, int]] = {}
        for subject, item in page:
            value, group = plan.value(item), plan.group_of(item)
            if value is not None and group is not None:
                if subject in readings:
                    raise RepeatedContributor("a page names a customer twice")
                readings[subject] = (group, value)
        members = admitted(
            self._engine, self._decisions, requester.organization, purpose, plan.categories, list(readings)
        )
        by_group: dict[int, list[int]] = {}
        for member in members:
            group, value = readings[member.source_subject]
            by_group.setdefault(group, []).append(value)
        for group, values in by_group.items():
            statistic.add(group, values)
        return [self._pseudonym(m.customer_id) for m in members]

    async def _record(
        self, requester: Requester, record: QueryRecord, key: BudgetKey, total: float, resets_at: datetime
    ) -> tuple[int, BudgetState]:
        spent: list[BudgetState] = []

        def effects(conn: Connection, index: int) -> None:
            spent.append(self.budgets.spend(conn, key, total, record.epsilon, resets_at))
            self.contributions.release_in(conn, record.query_id, index)

        payload = {
            "recipient": requester.organization,
            "client_id": requester.client_id,
            "purpose": record.purpose,
            "source": record.source,
            "statistic": record.statistic,
            "attribute": record.attribute,
            "group_by": record.group_by,
            "epsilon": record.epsilon,
            "delta": record.delta,
            "budget_period": key.period,
            "query_id": record.query_id,
        }
        event = Event(QUERY_EVENT, requester.actor, None, payload, record.created_at)
        try:
            index = await self._ledger.append_async(event, effects=effects)
        except BudgetExceeded as exc:
            raise _over_budget(exc.state) from None
        except Exception as exc:  # the query cannot be recorded: nothing is released
            log.error("ledger_append_failed", error_type=type(exc).__name__, event_type=QUERY_EVENT)
            raise Problem(503, "ledger-unavailable", "The query cannot be recorded, so nothing is released.") from None
        return index, spent[0]


def _require_purpose(requester: Requester, purpose: str | None) -> str:
    if not purpose:
        raise Problem(400, "purpose-required", "Declare the purpose of this query in the Consentry-Purpose header.")
    return purpose


def _over_budget(state: BudgetState) -> Problem:
    return Problem(
        403,
        "privacy-budget-exceeded",
        f"This query would pass your privacy budget: {state.remaining:.6g} of {state.total:g} is left until "
        f"{state.to_dict()['resets_at']}.",
        budget=state.to_dict(),
    )


def _scaled(plan: _Plan, name: str, value: Any) -> Any:
    """Numbers in the attribute's unit: sums, means and quantiles count whole steps of its resolution."""
    if value is None or name not in ("sum", "mean", "value"):
        return value
    step = plan.attribute.step
    return value * step if plan.attribute.resolution is not None else value


def _answer(
    plan: _Plan, record: QueryRecord, release: Release, budget: BudgetState, index: int, min_cohort: int
) -> dict[str, Any]:
    groups = []
    for number, group in enumerate(release.groups):
        groups.append(
            {
                "group": plan.group.values[number] if plan.group else None,
                "result": {k: _scaled(plan, k, v) for k, v in group.values.items()},
                "accuracy": {
                    k: _scaled(plan, "sum" if k in ("mean", "sum") else k, v) for k, v in group.accuracy.items()
                },
            }
        )
    attribute = plan.attribute
    return {
        "query_id": record.query_id,
        "statistic": record.statistic,
        "source": record.source,
        "attribute": attribute.name,
        "unit": attribute.unit,
        "group_by": record.group_by,
        "bounds": list(attribute.bounds) if attribute.bounds else None,
        "bins": plan.bins if plan.dp.statistic is Statistic.HISTOGRAM else None,
        "quantile": plan.dp.alpha if plan.dp.statistic is Statistic.QUANTILE else None,
        "groups": groups,
        "epsilon": release.epsilon,
        "delta": release.delta,
        "confidence": CONFIDENCE,
        "mechanism": f"OpenDP {release.mechanism}",
        "noise_scale": release.scales,
        "minimum_cohort": min_cohort,
        "budget": budget.to_dict(),
        "ledger_index": index,
    }
