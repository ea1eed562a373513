"""My receipts: every consent receipt as the signed verifiable credential it is (download), with its live
status read from the published status list (valid, or revoked when the consent was withdrawn)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.principals import CustomerPrincipal
from gateway.portal.session import open_visit
from gateway.portal.web import render, security_headers
from gateway.rights.errors import NotFoundError
from gateway.rights.receipts import get_receipt, list_receipts
from gateway.runtime import Runtime, get_runtime
from policies import ConsentError

router = APIRouter()


def _receipts(runtime: Runtime, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    """Each receipt with the scope of its consent record in taxonomy terms (the VC itself names DPV IRIs)."""
    shown = []
    for summary in list_receipts(runtime, customer):
        try:
            record = runtime.policies.consents.get(summary.record_id)
            scope: dict[str, Any] = {
                "purposes": list(record.purposes),
                "categories": list(record.categories),
                "recipients": list(record.recipients),
            }
        except ConsentError:
            scope = {"purposes": [], "categories": [], "recipients": []}
        shown.append({"summary": summary, **scope})
    return shown


@router.get("/receipts")
async def my_receipts(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    visit = await open_visit(request, runtime)
    if visit.customer is None:
        return visit.require_sign_in()
    receipts = await run_in_threadpool(_receipts, runtime, visit.customer)
    return render(visit.page, "receipts.html", receipts=receipts, taxonomy=runtime.policies.taxonomy)


@router.get("/receipts/download")
async def download_receipt(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    """The credential exactly as issued (JSON-LD, Data Integrity proof), as a file."""
    visit = await open_visit(request, runtime)
    if visit.customer is None:
        return visit.require_sign_in()
    receipt_id = request.query_params.get("id") or ""
    try:
        credential = await run_in_threadpool(get_receipt, runtime, visit.customer, receipt_id)
    except NotFoundError:
        return render(visit.page, "error.html", 404, title_key="error.not_found.title", body_key="error.not_found.body")
    name = receipt_id.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or "receipt"
    response = Response(json.dumps(credential, ensure_ascii=False, indent=2), media_type="application/vc+ld+json")
    response.headers["Content-Disposition"] = f'attachment; filename="consent-receipt-{name}.json"'
    return security_headers(response)
