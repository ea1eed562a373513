"""Value for data: the offers a purpose makes in return for the use of data (terms shown before any
consent), the customer's points balance and every accrual with the ledger entry of the use that earned it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import EngineDep, PoliciesDep
from gateway.portal.session import VisitDep
from gateway.portal.web import render
from gateway.rights.points import points_balance, points_history

router = APIRouter()


@router.get("/value")
async def value_for_data(visit: VisitDep, engine: EngineDep, policies: PoliciesDep) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    customer_id = visit.customer.customer_id
    balance = await run_in_threadpool(points_balance, engine, customer_id)
    history = await run_in_threadpool(points_history, engine, customer_id)
    taxonomy = policies.taxonomy
    offers = [purpose for purpose in taxonomy.purposes.values() if purpose.value_offer is not None]
    return render(visit.page, "value.html", offers=offers, balance=balance, history=history, taxonomy=taxonomy)
