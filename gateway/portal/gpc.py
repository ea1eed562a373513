"""Global Privacy Control in the portal: a signed-in customer's browser that sends `Sec-GPC: 1` opts them out of
selling and sharing (11 CCR 7025) before the page is built, so the page already shows the opt-out."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import PoliciesDep
from gateway.portal.session import VisitDep
from gateway.rights import sale_opt_out


async def honour_gpc(request: Request, visit: VisitDep, policies: PoliciesDep) -> None:
    """The dependency of every signed-in page: records the opt-out once where the customer's law gives it."""
    signal = request.headers.get(sale_opt_out.GPC_HEADER)
    if visit.customer is not None and signal is not None:
        await run_in_threadpool(sale_opt_out.honour_gpc, policies, visit.customer, signal)
