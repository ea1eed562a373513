"""Liveness, readiness and Prometheus metrics: for the orchestrator and the monitoring system."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, delete, false
from starlette.concurrency import run_in_threadpool

from gateway.audit.integrity import LedgerIntegrity
from gateway.dependencies import EngineDep, IntegrityDep, LedgerDep, MetricsDep, SettingsDep, require_metrics_reader
from gateway.store.tables import idempotency_keys
from gateway.web.problems import Problem, problem_response, problem_responses, with_problems
from ledger.store import Ledger

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str = Field(description="`ok` when the check passed.")


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "checks": {"database": "ok", "ledger": "ok"}}]}
    )
    status: str = Field(description="`ok` when every dependency answered, else `unavailable`.")
    checks: dict[str, str] = Field(description="Per dependency: `ok`, or why it failed.")


@router.get(
    "/healthz",
    summary="Liveness",
    description="Answers as long as the process serves HTTP; it checks no dependency, so a restart is "
    "only triggered when the process itself is stuck.",
    response_model=Health,
)
def healthz() -> Health:
    return Health(status="ok")


def _check_database(engine: Engine) -> str:
    try:
        with engine.begin() as conn:
            # A write that matches nothing: proves the database accepts writes, leaves no trace.
            conn.execute(delete(idempotency_keys).where(false()))
    except Exception as exc:  # readiness reports the failure instead of raising it
        return f"failed: {type(exc).__name__}"
    return "ok"


def _check_ledger(ledger: Ledger) -> str:
    """The ledger's head and tree answer and a write under its write lock commits: an append would land."""
    try:
        ledger.root(ledger.size())
        ledger.probe_write()
    except Exception as exc:  # readiness reports the failure instead of raising it
        return f"failed: {type(exc).__name__}"
    return "ok"


def _check_integrity(integrity: LedgerIntegrity) -> str:
    """The latest self-audit: the stored entries still produce the latest signed tree head."""
    failure = integrity.failure
    return "ok" if failure is None else f"failed: {failure}"


def readiness_checks(engine: Engine, ledger: Ledger, integrity: LedgerIntegrity) -> dict[str, str]:
    """Every dependency a request may need; the gateway fails closed, so a failing one means not ready."""
    return {
        "database": _check_database(engine),
        "ledger": _check_ledger(ledger),
        "ledger_integrity": _check_integrity(integrity),
    }


@router.get(
    "/readyz",
    summary="Readiness",
    description="Checks that the database accepts a write transaction, the ledger's tree answers and commits a "
    "write under its write lock, and the "
    "latest self-audit found the stored entries producing the latest signed checkpoint; otherwise "
    "503 problem+json whose `checks` member names the failing dependency, so a load balancer stops routing to an "
    "instance that would fail closed.",
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readyz(request: Request, engine: EngineDep, ledger: LedgerDep, integrity: IntegrityDep) -> Any:
    checks = await run_in_threadpool(readiness_checks, engine, ledger, integrity)
    if all(value == "ok" for value in checks.values()):
        return Readiness(status="ok", checks=checks)
    failing = ", ".join(name for name, value in checks.items() if value != "ok")
    return problem_response(
        request, 503, "unavailable", f"Not ready: {failing} unavailable.", extensions={"checks": checks}
    )


def _metrics_served_here(settings: SettingsDep) -> None:
    """With a separate metrics address, the public port has no metrics at all (checked before credentials)."""
    if settings.metrics_address is not None:
        raise Problem(404, "not-found", "Metrics are served on a separate address.")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Request counts and latency histograms by route template, and token issuance per client id, in "
    "the Prometheus text exposition format. Needs the `metrics` scope (a monitoring client with the `auditor` "
    "role, or an admin). With `CONSENTRY_METRICS_ADDRESS` set the metrics are served there instead, and this "
    "route answers 404.",
    response_class=Response,
    dependencies=[Depends(_metrics_served_here), Depends(require_metrics_reader)],
    responses=with_problems(
        {200: {"content": {CONTENT_TYPE_LATEST: {"example": "consentry_http_requests_total{...} 3.0"}}}},
        401,
        403,
        404,
    ),
)
def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
