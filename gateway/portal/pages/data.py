"""My data: export everything in one machine-readable file (GDPR Art. 20, EU Data Act), correct a field (Art. 16)
and request erasure (Art. 17), then watch each source system's progress.

The export is a POST (a CSRF-checked form): reading from the source systems is itself a ledgered access, so
no cross-site link may trigger it. Erasure runs in the background exactly as `POST /v1/me/erasure` does; the
page refreshes itself while a request is open (and offers a refresh link without JavaScript).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import (
    ErasuresDep,
    PoliciesDep,
    PortabilityDep,
    RectificationsDep,
    TransfersDep,
    UpstreamsDep,
)
from gateway.portal.session import VisitDep, open_signed_in_form
from gateway.portal.web import PORTAL_PREFIX, redirect, render, security_headers
from gateway.rights import erasure, portability, rectification, transfers
from gateway.rights.errors import InvalidRectification, InvalidTransfer
from gateway.rights.export_csv import export_zip
from gateway.rights.leases import OPEN

router = APIRouter()
TRANSFER_MINUTES = 24 * 60  # the portal grants a day; the API lets the customer choose


@router.get("/data")
async def my_data(
    visit: VisitDep,
    erasures: ErasuresDep,
    rectifications: RectificationsDep,
    moving: TransfersDep,
    policies: PoliciesDep,
    upstreams: UpstreamsDep,
    request: Request,
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    requests = await run_in_threadpool(erasure.list_erasures, erasures, visit.customer)
    corrections = await run_in_threadpool(rectification.list_rectifications, rectifications, visit.customer)
    notice = request.query_params.get("rectification")
    granted = await run_in_threadpool(transfers.list_transfers, moving, visit.customer)
    transfer_notice = request.query_params.get("transfer")
    return render(
        visit.page,
        "data.html",
        taxonomy=policies.taxonomy,
        transfers=granted,
        transfer_notice=transfer_notice if transfer_notice in ("granted", "invalid") else None,
        rectifiable=rectification.rectifiable_categories(rectifications, visit.customer),
        rectifications=corrections,
        rectification_open=any(r["status"] in OPEN - {"failed"} for r in corrections),
        rectification_notice=notice if notice in ("requested", "invalid") else None,
        erasures=requests,
        erasure_open=any(r["status"] in OPEN for r in requests),
        sources=sorted(upstreams.erasable()) if visit.customer.source_subject else [],
        requested=request.query_params.get("erasure") == "requested",
    )


@router.post("/data/export")
async def export(visit: VisitDep, exporting: PortabilityDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    document = await portability.export(exporting, customer, lang=visit.page.language)
    if form.get("format") == "csv":
        response = Response(export_zip(document), media_type="application/zip")
        response.headers["Content-Disposition"] = 'attachment; filename="consentry-export-csv.zip"'
        return security_headers(response)
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, media_type="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="consentry-export.json"'
    return security_headers(response)


@router.post("/data/transfer")
async def grant_transfer(visit: VisitDep, moving: TransfersDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    recipient, fmt = str(form.get("recipient") or ""), str(form.get("format") or "json")
    try:
        await run_in_threadpool(transfers.grant_transfer, moving, customer, recipient, fmt, TRANSFER_MINUTES)
    except InvalidTransfer:
        return redirect(visit.page, f"{PORTAL_PREFIX}/data?transfer=invalid#transfer")
    return redirect(visit.page, f"{PORTAL_PREFIX}/data?transfer=granted#transfer")


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


@router.post("/data/rectification")
async def request_rectification(visit: VisitDep, rectifications: RectificationsDep) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    category, value = str(form.get("category") or ""), str(form.get("value") or "")
    try:
        status = await run_in_threadpool(rectification.request_rectification, rectifications, customer, category, value)
    except InvalidRectification:
        return redirect(visit.page, f"{PORTAL_PREFIX}/data?rectification=invalid#rectification")
    rectification.start_rectification(rectifications, customer, status["request_id"])
    return redirect(visit.page, f"{PORTAL_PREFIX}/data?rectification=requested#rectification")
