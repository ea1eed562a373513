"""Value for data: the offers a purpose makes in return for the use of data (terms shown before any consent), the
customer's points balance and every accrual and redemption with its ledger entry, the catalogue points buy,
the donations matched for the customer's uses and the priority access their consents give."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import PoliciesDep, ValueDep
from gateway.portal.session import VisitDep, open_signed_in_form
from gateway.portal.web import PORTAL_PREFIX, redirect, render
from gateway.rights import value
from gateway.rights.errors import CustomerRightsError
from gateway.rights.points import REDEMPTION_PURPOSE

router = APIRouter()
_NOTICES = ("redeemed", "insufficient-points", "invalid-redemption")


@router.get("/value")
async def value_for_data(visit: VisitDep, paying: ValueDep, policies: PoliciesDep, request: Request) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    summary = await run_in_threadpool(value.value_summary, paying, visit.customer, visit.page.language)
    taxonomy = policies.taxonomy
    offers = [purpose for purpose in taxonomy.purposes.values() if purpose.value_offer is not None]
    notice = request.query_params.get("notice")
    return render(
        visit.page,
        "value.html",
        offers=offers,
        summary=summary,
        taxonomy=taxonomy,
        redemption=REDEMPTION_PURPOSE,
        notice=notice if notice in _NOTICES else None,
    )


@router.post("/value/redeem")
async def redeem(visit: VisitDep, paying: ValueDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    try:
        await run_in_threadpool(value.redeem_item, paying, customer, str(form.get("item") or ""))
    except CustomerRightsError as exc:
        return redirect(visit.page, f"{PORTAL_PREFIX}/value?notice={exc.kind}#catalogue-heading")
    return redirect(visit.page, f"{PORTAL_PREFIX}/value?notice=redeemed#catalogue-heading")
