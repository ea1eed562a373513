"""Differentially private aggregates (scope `analytics`): a partner asks for a statistic over every customer who
allows it and gets only the noisy answer, its ε and its accuracy; customers see which analyses their data went
into (`/v1/me/analytics`). The steps and their order live in `gateway.analytics`; this module translates HTTP and
gets the service through `gateway.dependencies.AnalyticsDep`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.analytics import AnalyticsQuery, Requester, Statistic
from gateway.auth.principals import ClientPrincipal, CustomerPrincipal, Role
from gateway.dependencies import AnalyticsDep, PoliciesDep, PseudonymsDep, require_client, require_customer
from gateway.web.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["analytics"])

PURPOSE_HEADER = "Consentry-Purpose"
require_analytics_client = require_client(scopes=["analytics"], roles=[Role.CRM])


_QUERY_EXAMPLE: dict[str, Any] = {
    "source": "vehicle-cloud",
    "statistic": "mean",
    "attribute": "mileage_km",
    "group_by": "model",
    "epsilon": 1.0,
}


class AggregateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_QUERY_EXAMPLE]})

    source: str = Field(min_length=1, max_length=100, description="A registered source with a bulk resource.")
    statistic: Statistic
    attribute: str = Field(min_length=1, max_length=64, description="An attribute the source declares.")
    group_by: str | None = Field(
        default=None, max_length=64, description="A declared category attribute: one answer per declared value."
    )
    epsilon: float = Field(gt=0, description="The privacy budget to spend: smaller is more private and noisier.")
    bins: list[float] | None = Field(
        default=None, min_length=2, max_length=101, description="Histogram bin edges within the attribute's bounds."
    )
    bin_count: int | None = Field(
        default=None, ge=1, le=100, description="Histogram of this many equal bins over the bounds (default 20)."
    )
    quantile: float | None = Field(default=None, gt=0, lt=1, description="Which quantile (default 0.5, the median).")
    candidates: list[float] | None = Field(
        default=None, min_length=1, max_length=1000, description="Values a quantile may answer with (increasing)."
    )


class AggregateGroup(BaseModel):
    group: str | None = Field(description="The group's declared value, or null without group_by.")
    result: dict[str, Any] = Field(
        description="The noisy numbers: count, sum, mean (and its noisy count), counts "
        "per bin, or the quantile's value."
    )
    accuracy: dict[str, float | None] = Field(
        description="For each number, how far from the exact one it may be at `confidence` (`rank`: a quantile's "
        "distance in customers from the exact quantile's rank)."
    )


_BUDGET_EXAMPLE: dict[str, Any] = {
    "organization": "stuttgart-rnd",
    "purpose": "joint_rnd",
    "source": "vehicle-cloud",
    "attributes": ["mileage_km", "model"],
    "period": "2026-12",
    "epsilon_total": 20.0,
    "epsilon_spent": 2.0,
    "epsilon_remaining": 18.0,
    "resets_at": "2027-01-01T00:00:00Z",
}
_ANSWER_EXAMPLE: dict[str, Any] = {
    "query_id": "dabfa272-af0b-4b38-9dec-c73d91745e97",
    "statistic": "mean",
    "source": "vehicle-cloud",
    "attribute": "mileage_km",
    "unit": "km",
    "group_by": "model",
    "bounds": [0, 300000],
    "bins": None,
    "quantile": None,
    "groups": [
        {"group": "Aurora", "result": {"mean": 41870.2, "count": 13}, "accuracy": {"mean": 52410.7, "count": 3.9}},
        {"group": "Breeze", "result": {"mean": 60212.9, "count": 15}, "accuracy": {"mean": 45421.9, "count": 3.9}},
        {"group": "Comet", "result": {"mean": 33650.0, "count": 12}, "accuracy": {"mean": 56778.3, "count": 3.9}},
    ],
    "epsilon": 2.0,
    "delta": 0.0,
    "confidence": 0.95,
    "mechanism": "OpenDP discrete Laplace (sum and count, each half of ε)",
    "noise_scale": {"sum": 300000.0, "count": 1.0},
    "minimum_cohort": 20,
    "budget": _BUDGET_EXAMPLE,
    "ledger_index": 57,
}


class AggregateAnswer(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ANSWER_EXAMPLE]})

    query_id: str
    statistic: str
    source: str
    attribute: str
    unit: str | None
    group_by: str | None
    bounds: list[float] | None = Field(description="Every value was clamped to these bounds before it counted.")
    bins: list[Any] | None
    quantile: float | None
    groups: list[AggregateGroup]
    epsilon: float = Field(description="The ε this answer spent (what OpenDP's privacy map states).")
    delta: float = Field(description="0: every mechanism used is pure ε-differentially private.")
    confidence: float
    mechanism: str
    noise_scale: dict[str, float]
    minimum_cohort: int
    budget: dict[str, Any] = Field(description="The budget after this query: total, spent, remaining, period end.")
    ledger_index: int = Field(description="The ledger entry recording this query and its cost.")


@router.post(
    "/analytics/queries",
    summary="A differentially private statistic",
    description="Counts, sums, means, histograms over declared bins or quantiles of one attribute of a source, "
    "optionally per declared group, over the customers whose consents and the matrix allow `aggregate` for your "
    "organization, this purpose and the attribute's category. The answer is noisy (OpenDP), states its ε and "
    "accuracy, and spends your budget for the purpose, source attributes and period; it is in the ledger first. "
    "A purpose you are not registered for (`purpose-not-allowed`) and a cohort below the minimum "
    "(`cohort-too-small`) are refused with an `access.refused` ledger entry, named by `ledger_index`; nothing is "
    "spent.",
    response_model=AggregateAnswer,
    responses=problem_responses(400, 401, 403, 404, 409, 502, 503, 504),
)
async def run_query(
    body: AggregateQuery,
    principal: Annotated[ClientPrincipal, Depends(require_analytics_client)],
    service: AnalyticsDep,
    purpose: Annotated[
        str | None,
        Header(
            alias=PURPOSE_HEADER,
            description="The declared purpose (a taxonomy purpose id the client is registered for).",
        ),
    ] = None,
) -> dict[str, Any]:
    requester = Requester(
        principal.client_id, principal.organization, principal.actor, frozenset(principal.allowed_purposes)
    )
    query = AnalyticsQuery(
        source=body.source,
        attribute=body.attribute,
        statistic=body.statistic,
        epsilon=body.epsilon,
        group_by=body.group_by,
        bins=tuple(body.bins) if body.bins is not None else None,
        bin_count=body.bin_count,
        quantile=body.quantile,
        candidates=tuple(body.candidates) if body.candidates is not None else None,
    )
    return await service.answer(requester, purpose, query)


class PrivacyBudgets(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"budgets": [_BUDGET_EXAMPLE]}]})

    budgets: list[dict[str, Any]]


@router.get(
    "/analytics/budgets",
    summary="My organization's privacy budgets",
    description="Every budget your organization has drawn on: per purpose, source attribute set and period.",
    response_model=PrivacyBudgets,
    responses=problem_responses(401, 403),
)
async def budgets(
    principal: Annotated[ClientPrincipal, Depends(require_analytics_client)], service: AnalyticsDep
) -> dict[str, Any]:
    states = await run_in_threadpool(service.budgets.list, principal.organization)
    return {"budgets": [s.to_dict() for s in states]}


class Analysis(BaseModel):
    query_id: str
    organization: str = Field(description="The recipient, in the language asked for.")
    recipient: str
    purpose: str
    source: str
    statistic: str
    attribute: str
    group_by: str | None
    epsilon: float
    delta: float
    time: str
    ledger_index: int | None


class AnalysisList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "analyses": [
                        {
                            "query_id": "dabfa272-af0b-4b38-9dec-c73d91745e97",
                            "organization": "Stuttgart Automotive Research GmbH",
                            "recipient": "stuttgart-rnd",
                            "purpose": "joint_rnd",
                            "source": "vehicle-cloud",
                            "statistic": "mean",
                            "attribute": "mileage_km",
                            "group_by": "model",
                            "epsilon": 2.0,
                            "delta": 0.0,
                            "time": "2026-12-07T08:17:45.135038Z",
                            "ledger_index": 57,
                        }
                    ]
                }
            ]
        }
    )

    analyses: list[Analysis]


@router.get(
    "/me/analytics",
    summary="Anonymous statistics my data contributed to",
    description="Each differentially private analysis your data counted in: who, for what purpose, which "
    "statistic of which attribute, and the ε it spent. Never a value: only the noisy result left the gateway.",
    response_model=AnalysisList,
    responses=problem_responses(401),
)
async def my_analyses(
    customer: Annotated[CustomerPrincipal, Depends(require_customer)],
    service: AnalyticsDep,
    policies: PoliciesDep,
    pseudonyms: PseudonymsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    lang: Annotated[str, Query(pattern=r"^(en|zh-CN)$")] = "en",
) -> dict[str, Any]:
    subject = pseudonyms(customer.customer_id)
    records = await run_in_threadpool(service.contributions.of_subject, subject, limit=limit)
    recipients = policies.taxonomy.recipients
    analyses = []
    for record in records:
        entry = record.to_dict()
        entry["recipient"] = record.organization
        known = recipients.get(record.organization)
        entry["organization"] = known.name.get(lang) if known is not None else record.organization
        analyses.append(entry)
    return {"analyses": analyses}
