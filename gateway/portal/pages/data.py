"""My data: export everything in one machine-readable file (GDPR Art. 20, EU Data Act) and request erasure
(Art. 17), then watch each source system's progress.

The export is a POST (a CSRF-checked form): reading from the source systems is itself a ledgered access, so
no cross-site link may trigger it. Erasure runs in the background exactly as `POST /v1/me/erasure` does; the
page refreshes itself while a request is open (and offers a refresh link without JavaScript).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import ErasuresDep, PortabilityDep, UpstreamsDep
from gateway.portal.session import VisitDep, open_signed_in_form
from gateway.portal.web import PORTAL_PREFIX, redirect, render, security_headers
from gateway.rights import erasure, portability

router = APIRouter()


@router.get("/data")
async def my_data(visit: VisitDep, erasures: ErasuresDep, upstreams: UpstreamsDep, request: Request) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    requests = await run_in_threadpool(erasure.list_erasures, erasures, visit.customer)
    return render(
        visit.page,
        "data.html",
        erasures=requests,
        erasure_open=any(r["status"] in erasure.OPEN for r in requests),
        sources=sorted(upstreams.erasable()) if visit.customer.source_subject else [],
        requested=request.query_params.get("erasure") == "requested",
    )


@router.post("/data/export")
async def export(visit: VisitDep, exporting: PortabilityDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, _ = posted
    document = await portability.export(exporting, customer, lang=visit.page.language)
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, media_type="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="consentry-export.json"'
    return security_headers(response)


@router.post("/data/erasure")
async def request_erasure(visit: VisitDep, erasures: ErasuresDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    if form.get("understood") != "1":
        return redirect(visit.page, f"{PORTAL_PREFIX}/data#erasure")
    status = await run_in_threadpool(erasure.request_erasure, erasures, customer)
    if status["status"] != "completed":
        erasure.start_erasure(erasures, customer, status["request_id"])
    return redirect(visit.page, f"{PORTAL_PREFIX}/data?erasure=requested#erasure")
