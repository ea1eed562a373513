"""My account: who the portal thinks you are (profile, jurisdiction, wallet DID)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.portal.session import open_visit
from gateway.portal.web import render
from gateway.runtime import Runtime, get_runtime

router = APIRouter()


@router.get("/account")
async def account(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    visit = await open_visit(request, runtime)
    if visit.customer is None:
        return visit.require_sign_in()
    return render(visit.page, "account.html", customer=visit.customer)
