"""My receipts: every consent receipt as the signed verifiable credential it is (download), with its live
status read from the published status list (valid, or revoked when the consent was withdrawn)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from credentials import CredentialService
from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import CredentialsDep, EngineDep, PoliciesDep
from gateway.portal.session import VisitDep
from gateway.portal.web import render, security_headers
from gateway.rights.errors import NotFoundError
from gateway.rights.receipts import get_receipt, list_receipts
from policies import ConsentError, PolicyRuntime

router = APIRouter()


def _receipts(
    engine: Engine, credentials: CredentialService, policies: PolicyRuntime, customer: CustomerPrincipal
) -> list[dict[str, Any]]:
    """Each receipt with the scope of its consent record in taxonomy terms (the VC itself names DPV IRIs)."""
    shown = []
    for summary in list_receipts(engine, credentials, customer):
        try:
            record = policies.consents.get(summary.record_id)
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
async def my_receipts(
    visit: VisitDep, engine: EngineDep, credentials: CredentialsDep, policies: PoliciesDep
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    receipts = await run_in_threadpool(_receipts, engine, credentials, policies, visit.customer)
    return render(visit.page, "receipts.html", receipts=receipts, taxonomy=policies.taxonomy)


@router.get("/receipts/download")
async def download_receipt(visit: VisitDep, engine: EngineDep, request: Request) -> Response:
    """The credential exactly as issued (JSON-LD, Data Integrity proof), as a file."""
    if visit.customer is None:
        return visit.require_sign_in()
    receipt_id = request.query_params.get("id") or ""
    try:
        credential = await run_in_threadpool(get_receipt, engine, visit.customer, receipt_id)
    except NotFoundError:
        return render(visit.page, "error.html", 404, title_key="error.not_found.title", body_key="error.not_found.body")
    name = receipt_id.rsplit(":", 1)[-1].rsplit("/", 1)[-1] or "receipt"
    response = Response(json.dumps(credential, ensure_ascii=False, indent=2), media_type="application/vc+ld+json")
    response.headers["Content-Disposition"] = f'attachment; filename="consent-receipt-{name}.json"'
    return security_headers(response)
