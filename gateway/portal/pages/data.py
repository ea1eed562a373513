"""My data: export everything in one machine-readable file (GDPR Art. 20, EU Data Act) and request erasure
(Art. 17), then watch each source system's progress.

The export is a POST (a CSRF-checked form): reading from the source systems is itself a ledgered access, so
no cross-site link may trigger it. Erasure runs in the background exactly as `POST /v1/me/erasure` does; the
page refreshes itself while a request is open (and offers a refresh link without JavaScript).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.portal.session import open_signed_in_form, open_visit
from gateway.portal.web import PORTAL_PREFIX, redirect, render, security_headers
from gateway.rights import erasure, portability
from gateway.runtime import Runtime, get_runtime

router = APIRouter()


@router.get("/data")
async def my_data(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    visit = await open_visit(request, runtime)
    if visit.customer is None:
        return visit.require_sign_in()
    requests = await run_in_threadpool(erasure.list_erasures, runtime, visit.customer)
    return render(
        visit.page,
        "data.html",
        erasures=requests,
        erasure_open=any(r["status"] in erasure.OPEN for r in requests),
        sources=sorted(runtime.upstreams.erasable()) if visit.customer.source_subject else [],
        requested=request.query_params.get("erasure") == "requested",
    )


@router.post("/data/export")
async def export(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    posted = await open_signed_in_form(request, runtime)
    if isinstance(posted, Response):
        return posted
    visit, customer, _ = posted
    document = await portability.export(runtime, customer, lang=visit.page.language)
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, media_type="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="consentry-export.json"'
    return security_headers(response)


@router.post("/data/erasure")
async def request_erasure(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    posted = await open_signed_in_form(request, runtime)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    if form.get("understood") != "1":
        return redirect(visit.page, f"{PORTAL_PREFIX}/data#erasure")
    status = await run_in_threadpool(erasure.request_erasure, runtime, customer)
    if status["status"] != "completed":
        erasure.start_erasure(runtime, customer, status["request_id"])
    return redirect(visit.page, f"{PORTAL_PREFIX}/data?erasure=requested#erasure")
