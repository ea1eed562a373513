"""The customer's data rights under `/v1/me`: export everything (GDPR Art. 20), request erasure (Art. 17) and
rectification (Art. 16, PIPL Art. 46)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import (
    ErasuresDep,
    PortabilityDep,
    RectificationsDep,
    TransfersDep,
    ValueDep,
    idempotent,
    require_customer,
)
from gateway.rights import erasure, portability, rectification, transfers, value
from gateway.rights.export_csv import export_zip
from gateway.routers.consents import LANG_QUERY, Lang, call, json_example
from gateway.web.problems import problem_responses

router = APIRouter(prefix="/v1/me", tags=["customer data rights"])
# Erasures run after the answer; the set keeps each task referenced until it ends.
_REQUEST_ID = "7d0c9a5e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"
_STATUS_EXAMPLE = {
    "request_id": _REQUEST_ID,
    "status": "in_progress",
    "created_at": "2026-11-21T10:00:00+00:00",
    "completed_at": None,
    "ledger_index": 88,
    "ledger_erasure_index": None,
    "sources": [
        {
            "source": "vehicle-cloud",
            "status": "erased",
            "attempts": 1,
            "upstream_status": 204,
            "last_error": None,
            "updated_at": "2026-11-21T10:00:01+00:00",
        }
    ],
}


@router.get(
    "/export",
    summary="Export my data",
    description="One download (GDPR Art. 20, EU Data Act) with a human-readable `summary`: my consents and "
    "their history, my receipts (the signed credentials and their live status), the access log, value-for-data "
    "points and my whole record from each registered source system, fields no data category names included "
    "(`unmapped_fields`; `field_categories` names each mapped field's categories). Each source read is recorded "
    "in the ledger as an access under the `data_portability` purpose before its data is included. "
    "`format=csv` gives the same as a zip of CSV tables whose columns README.txt documents.",
    responses={
        **json_example(
            {
                "format": portability.FORMAT,
                "generated_at": "2026-11-21T10:00:00+00:00",
                "summary": "Export for Li Wei, made 2026-11-21T10:00:00+00:00. …",
                "customer": {"customer_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "jurisdiction": "CN"},
                "consents": {"cells": [], "records": []},
                "consent_history": [],
                "receipts": [],
                "accesses": [],
                "points": {"balance": 0, "accruals": []},
                "sources": {"vehicle-cloud": {"status": "exported", "ledger_index": 90, "data": {"name": "Li Wei"}}},
            }
        ),
        **problem_responses(401, 503),
    },
    openapi_extra={
        "responses": {
            "200": {
                "content": {
                    "application/zip": {
                        "schema": {"type": "string", "format": "binary"},
                        "example": "(a zip: README.txt, customer.csv, consents.csv, …)",
                    }
                }
            },
        }
    },
)
async def export_my_data(
    exporting: PortabilityDep,
    lang: Lang = LANG_QUERY,
    format: Literal["json", "csv"] = Query(
        "json", description="`json`: one document; `csv`: a zip of UTF-8 CSV tables with README.txt (the columns)."
    ),
    customer: CustomerPrincipal = Depends(require_customer),
) -> Response:
    document = await portability.export(exporting, customer, lang=lang)
    return export_response(document, format)


def export_response(document: dict[str, Any], fmt: str) -> Response:
    """The export as a download: JSON, or the CSV tables zipped."""
    if fmt == "csv":
        return Response(
            export_zip(document),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="consentry-export-csv.zip"'},
        )
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="consentry-export.json"'},
    )


@router.post(
    "/erasure",
    status_code=202,
    summary="Request erasure of my data",
    description="Records the request in the ledger and forwards it, in the background and with retries, to every "
    "registered source system that supports deletion; poll `GET /v1/me/erasure/{request_id}` for each source's "
    "status. When every source is done, my live consents are withdrawn and my ledger payloads erased (proofs stay "
    "valid). Requesting again while a request is open returns it and resumes sources that failed.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"example": _STATUS_EXAMPLE}}},
        **problem_responses(401, 503),
    },
)
async def request_erasure(
    erasures: ErasuresDep, customer: CustomerPrincipal = Depends(require_customer)
) -> JSONResponse:
    status = await run_in_threadpool(call, erasure.request_erasure, erasures, customer)
    if status["status"] != "completed":
        erasure.start_erasure(erasures, customer, status["request_id"])
    return JSONResponse(status, status_code=202)


@router.get(
    "/erasure",
    summary="My erasure requests",
    description="Every erasure request I made, newest first, with the status of each source system.",
    responses={**json_example([_STATUS_EXAMPLE]), **problem_responses(401)},
)
def my_erasures(erasures: ErasuresDep, customer: CustomerPrincipal = Depends(require_customer)) -> list[dict[str, Any]]:
    return call(erasure.list_erasures, erasures, customer)


@router.get(
    "/erasure/{request_id}",
    summary="Status of an erasure request",
    description="`pending` → `in_progress` → `completed` (or `failed` when a source kept failing), with each "
    "source's status (`pending`, `erased`, `already-absent`, `failed`), attempts and last error.",
    responses={**json_example(_STATUS_EXAMPLE), **problem_responses(401, 404)},
)
def erasure_request_status(
    erasures: ErasuresDep,
    request_id: str = Path(max_length=100, examples=[_REQUEST_ID]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return call(erasure.erasure_status, erasures, customer, request_id)


_RECTIFICATION_EXAMPLE = {
    "request_id": _REQUEST_ID,
    "category": "contact.phone",
    "status": "completed",
    "created_at": "2026-11-21T10:00:00+00:00",
    "completed_at": "2026-11-21T10:00:01+00:00",
    "ledger_index": 91,
    "ledger_completion_index": 92,
    "sources": [
        {
            "source": "vehicle-cloud",
            "field": "/phone",
            "status": "rectified",
            "attempts": 1,
            "upstream_status": 200,
            "last_error": None,
            "updated_at": "2026-11-21T10:00:01+00:00",
        }
    ],
}


class RectificationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"category": "contact.phone", "value": "+86 138 0000 0000"}]}
    )
    category: str = Field(min_length=1, max_length=128, description="The data category to correct.")
    value: str = Field(min_length=1, max_length=rectification.MAX_VALUE, description="The correct value.")


@router.post(
    "/rectification",
    status_code=202,
    summary="Correct my data",
    description="Records the correction in the ledger (the category and the source systems, never the value) and "
    "forwards it, in the background and with retries, to every registered source system whose record holds the "
    "category, as a JSON Merge Patch (RFC 7396). Poll `GET /v1/me/rectification/{request_id}` for each source's "
    "status; once every source is done the outcome is a second ledger entry and the gateway forgets the value. "
    "`GET /v1/me/rectification` lists the categories that can be corrected.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"example": _RECTIFICATION_EXAMPLE}}},
        **problem_responses(401, 422, 503),
    },
)
async def request_rectification(
    body: RectificationRequest,
    rectifications: RectificationsDep,
    customer: CustomerPrincipal = Depends(require_customer),
) -> JSONResponse:
    status = await run_in_threadpool(
        call, rectification.request_rectification, rectifications, customer, body.category, body.value
    )
    rectification.start_rectification(rectifications, customer, status["request_id"])
    return JSONResponse(status, status_code=202)


@router.get(
    "/rectification",
    summary="My rectification requests",
    description="The data categories I can correct, and every correction I asked for, newest first, with the "
    "status of each source system.",
    responses={
        **json_example({"categories": ["contact.email", "contact.phone"], "requests": [_RECTIFICATION_EXAMPLE]}),
        **problem_responses(401),
    },
)
def my_rectifications(
    rectifications: RectificationsDep, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return {
        "categories": list(rectification.rectifiable_categories(rectifications, customer)),
        "requests": call(rectification.list_rectifications, rectifications, customer),
    }


@router.get(
    "/rectification/{request_id}",
    summary="Status of a rectification request",
    description="`pending` → `in_progress` → `completed` (or `failed` when a source kept failing), with each "
    "source's status (`pending`, `rectified`, `not-held`, `failed`), attempts and last error.",
    responses={**json_example(_RECTIFICATION_EXAMPLE), **problem_responses(401, 404)},
)
def rectification_request_status(
    rectifications: RectificationsDep,
    request_id: str = Path(max_length=100, examples=[_REQUEST_ID]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return call(rectification.rectification_status, rectifications, customer, request_id)


_TRANSFER_EXAMPLE = {
    "grant_id": _REQUEST_ID,
    "state": "open",
    "recipient": "stuttgart-rnd",
    "format": "json",
    "created_at": "2026-11-21T10:00:00+00:00",
    "expires_at": "2026-11-22T10:00:00+00:00",
    "ledger_index": 93,
    "fetched_at": None,
    "fetch_ledger_index": None,
}


class TransferRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"recipient": "stuttgart-rnd", "format": "json", "minutes": 1440}]},
    )
    recipient: str = Field(min_length=1, max_length=128, description="The organization (taxonomy recipient id).")
    format: Literal["json", "csv"] = Field("json", description="What the recipient receives.")
    minutes: int = Field(1440, ge=1, le=transfers.MAX_MINUTES, description="How long the grant stays open.")


@router.post(
    "/export/transfers",
    status_code=201,
    summary="Send my export to an organization",
    description="Direct transfer (GDPR Art. 20(2), EU Data Act Art. 5): lets the registered recipient fetch my "
    "export once, before the time limit, with its own client at `GET /v1/transfers/{grant_id}`. The grant and "
    "the fetch are ledger entries; the fetch appears in my access log. A second fetch, or a late one, is refused.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        201: {"description": "Created", "content": {"application/json": {"example": _TRANSFER_EXAMPLE}}},
        **problem_responses(401, 422),
    },
)
def grant_transfer(
    body: TransferRequest, moving: TransfersDep, customer: CustomerPrincipal = Depends(require_customer)
) -> JSONResponse:
    granted = call(transfers.grant_transfer, moving, customer, body.recipient, body.format, body.minutes)
    return JSONResponse(granted, status_code=201)


@router.get(
    "/export/transfers",
    summary="My export transfers",
    description="Every transfer I granted, newest first, and whether (and when) the recipient fetched it.",
    responses={**json_example([_TRANSFER_EXAMPLE]), **problem_responses(401)},
)
def my_transfers(moving: TransfersDep, customer: CustomerPrincipal = Depends(require_customer)) -> list[dict[str, Any]]:
    return call(transfers.list_transfers, moving, customer)


_VALUE_EXAMPLE = {
    "balance": 5,
    "history": [
        {"ledger_index": 12, "purpose": "joint_rnd", "recipient": "stuttgart-rnd", "points": 5, "time": "2026-11-21"}
    ],
    "catalogue": [{"id": "car-wash", "label": "One free car wash", "points": 5}],
    "donations": [{"beneficiary": "Research fund", "currency": "CNY", "per_use": 200, "uses": 1, "total": 200}],
    "priority_access": [{"purpose": "repair_prediction", "feature": "Priority access to new features", "active": True}],
}


class Redemption(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"item": "maintenance-voucher"}]})
    item: str = Field(min_length=1, max_length=100, description="A catalogue item id.")


@router.get(
    "/points",
    summary="My value for data",
    description="My points balance and every accrual and redemption (each with its ledger entry), the catalogue "
    "points can be redeemed for, the donations the enterprise matched for uses of my data, and the priority access "
    "my consents give me.",
    responses={**json_example(_VALUE_EXAMPLE), **problem_responses(401)},
)
def my_value(
    paying: ValueDep, lang: Lang = LANG_QUERY, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return call(value.value_summary, paying, customer, lang)


@router.post(
    "/points/redemptions",
    status_code=201,
    summary="Redeem points for a catalogue item",
    description="Spends the item's price in points; the redemption is a ledger entry with the balance after it. "
    "409 `insufficient-points` when the balance does not cover it.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        201: {
            "description": "Created",
            "content": {
                "application/json": {"example": {"item": "car-wash", "points": 5, "balance": 0, "ledger_index": 13}}
            },
        },
        **problem_responses(401, 409, 422),
    },
)
def redeem_points(
    body: Redemption, paying: ValueDep, customer: CustomerPrincipal = Depends(require_customer)
) -> JSONResponse:
    return JSONResponse(call(value.redeem_item, paying, customer, body.item), status_code=201)
