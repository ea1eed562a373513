"""Guardians over HTTP: the administrator links a guardian account to a minor; the guardian, signed in as
themselves, reads and changes the minor's consents under `/v1/me/wards/{minor_id}`; the minor reads who decides.

Thin HTTP over `gateway.rights.guardians` and `gateway.rights.consents` (the portal calls the same functions).
A minor id the signed-in guardian is not linked to answers exactly like one that does not exist (404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.dependencies import CredentialsDep, CustomersDep, PoliciesDep, idempotent, require_admin, require_customer
from gateway.rights import consents, guardians
from gateway.routers.consents import LANG_QUERY, GrantRequest, Lang, call, json_example
from gateway.web.problems import problem_responses

router = APIRouter(tags=["guardians"])
_MINOR_ID = Path(
    max_length=36, description="The minor's customer id.", examples=["3f1c2b7e-0c8a-4d5e-9f6a-1b2c3d4e5f60"]
)


class GuardianLink(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"minor": "wang.xiaoming", "guardian": "wang.jun"}]}
    )
    minor: str = Field(min_length=1, max_length=200, description="The minor's username or customer id.")
    guardian: str = Field(min_length=1, max_length=200, description="The guardian's username or customer id.")


_LINK_EXAMPLE = {
    "minor": {"customer_id": "3f1c2b7e-0c8a-4d5e-9f6a-1b2c3d4e5f60", "username": "wang.xiaoming"},
    "guardian": {"customer_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "username": "wang.jun", "pseudonym": "k3…"},
    "linked": True,
    "ledger_index": 12,
}

_RECORD = {
    "record_id": "0b6f4d0e-3a51-4b0e-9b0c-8e2f1c7d5a10",
    "kind": "consent",
    "status": "given",
    "purposes": ["repair_prediction"],
    "categories": ["vehicle.vin"],
    "recipients": ["role:dealer"],
    "given_by": "guardian",
    "ledger_index": 42,
}
_CHANGE_EXAMPLE = {"action": "given", "record": _RECORD, "receipt_id": "urn:uuid:5f0e…", "revoked_receipts": []}
_STATE_EXAMPLE = {
    "jurisdiction": "CN",
    "cells": [
        {
            "recipient": "dealer-sh-4s",
            "purpose": "repair_prediction",
            "category": "vehicle.vin",
            "mode": "release",
            "state": "given",
            "legal_basis": "consent",
            "record_id": _RECORD["record_id"],
            "sensitive": True,
        }
    ],
    "records": [_RECORD],
}


@router.post(
    "/v1/admin/guardians",
    status_code=201,
    summary="Link a guardian to a minor",
    description="The guardian (an enrolled adult customer) then gives and withdraws the minor's consents. The "
    "minor must be enrolled with a minor's customer type (the taxonomy sets the ages per jurisdiction: PIPL under "
    "14, GDPR 16 or the member state's age, CCPA under 13). The link is a ledger entry (`guardian.linked`) naming "
    "both by pseudonym. Linking an existing pair again changes nothing and answers with `ledger_index: null`.",
    responses={
        201: {"description": "Linked", "content": {"application/json": {"example": _LINK_EXAMPLE}}},
        **problem_responses(401, 403, 404, 422),
    },
    dependencies=[Depends(idempotent(require_admin))],
)
def link_guardian(
    policies: PoliciesDep, customers: CustomersDep, body: GuardianLink, admin: ClientPrincipal = Depends(require_admin)
) -> JSONResponse:
    linked = call(guardians.link, policies, customers, minor=body.minor, guardian=body.guardian, actor=admin.actor)
    return JSONResponse(linked, status_code=201)


@router.delete(
    "/v1/admin/guardians/{minor}/{guardian}",
    summary="End a guardianship",
    description="From the next request the former guardian cannot act for the minor; a ledger entry "
    "(`guardian.unlinked`). Consents the guardian gave stay as they are until withdrawn.",
    responses={**json_example(dict(_LINK_EXAMPLE, linked=False)), **problem_responses(401, 403, 404)},
)
def unlink_guardian(
    policies: PoliciesDep,
    customers: CustomersDep,
    minor: str = Path(max_length=200, description="The minor's username or customer id."),
    guardian: str = Path(max_length=200, description="The guardian's username or customer id."),
    admin: ClientPrincipal = Depends(require_admin),
) -> dict[str, Any]:
    return call(guardians.unlink, policies, customers, minor=minor, guardian=guardian, actor=admin.actor)


@router.get(
    "/v1/me/guardians",
    tags=["customer consents"],
    summary="Who decides my consents",
    description="For a minor: the law, the age below which a guardian decides, and the guardians linked; for "
    "everyone else `decided_by_guardian` is false.",
    responses={
        **json_example(
            {"decided_by_guardian": True, "law": "PIPL", "guardian_consent_below": 14, "guardians": ["Wang Jun"]}
        ),
        **problem_responses(401),
    },
)
def my_guardians(
    policies: PoliciesDep, customers: CustomersDep, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    decides = guardians.who_decides(policies, customers, customer)
    return {"decided_by_guardian": guardians.is_minor(policies.taxonomy, customer), **decides.to_dict()}


@router.get(
    "/v1/me/wards",
    tags=["customer consents"],
    summary="The minors I decide for",
    description="Every minor an administrator linked me to as guardian; their ids open `/v1/me/wards/{minor_id}`.",
    responses={
        **json_example([{"customer_id": "3f1c2b7e-0c8a-4d5e-9f6a-1b2c3d4e5f60", "display_name": "Wang Xiaoming"}]),
        **problem_responses(401),
    },
)
def my_wards(customers: CustomersDep, customer: CustomerPrincipal = Depends(require_customer)) -> list[dict[str, Any]]:
    return [
        {"customer_id": w.customer_id, "display_name": w.display_name, "jurisdiction": w.jurisdiction}
        for w in guardians.wards(customers, customer)
    ]


@router.get(
    "/v1/me/wards/{minor_id}/catalog",
    tags=["customer consents"],
    summary="What a minor can be asked for, as their guardian",
    description="The minor's catalog and agreement (its version and SHA-256 are what a grant for the minor cites).",
    responses={
        **json_example(
            {
                "jurisdiction": "CN",
                "law": "PIPL",
                "lang": "en",
                "purposes": [{"id": "repair_prediction", "needs_consent": True}],
                "categories": [{"id": "vehicle.vin", "sensitive": False, "needs_separate_consent": True}],
                "recipients": [{"id": "dealer-sh-4s", "jurisdiction": "CN", "needs_cross_border_consent": False}],
                "agreement": {"id": "notice-CN-en", "version": "1.1", "sha256": "9f2c" + "0" * 60, "text": "…"},
            }
        ),
        **problem_responses(401, 404, 422),
    },
)
def ward_catalog(
    policies: PoliciesDep,
    customers: CustomersDep,
    minor_id: str = _MINOR_ID,
    lang: Lang = LANG_QUERY,
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    minor = call(guardians.ward, customers, customer, minor_id)
    return call(consents.catalog, policies, minor, lang=lang)


@router.get(
    "/v1/me/wards/{minor_id}/consents",
    tags=["customer consents"],
    summary="A minor's consents, as their guardian",
    description="The same answer as the minor's own `GET /v1/me/consents`.",
    responses={**json_example(_STATE_EXAMPLE), **problem_responses(401, 404, 503)},
)
def ward_consents(
    policies: PoliciesDep,
    customers: CustomersDep,
    minor_id: str = _MINOR_ID,
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    minor = call(guardians.ward, customers, customer, minor_id)
    return call(consents.consent_state, policies, minor)


@router.post(
    "/v1/me/wards/{minor_id}/consents",
    tags=["customer consents"],
    status_code=201,
    summary="Give consent for a minor, as their guardian",
    description="As `POST /v1/me/consents`, citing the agreement shown for the minor; the record says "
    "`given_by: guardian` and its ledger entry's actor is `guardian:<your pseudonym>`. Where the law counts a "
    "minor's data as sensitive (PIPL Art. 28) every category must be confirmed one by one in `separate`.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        201: {"description": "Created", "content": {"application/json": {"example": _CHANGE_EXAMPLE}}},
        **problem_responses(401, 404, 409, 422, 503),
    },
)
def give_for_ward(
    policies: PoliciesDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    body: GrantRequest,
    minor_id: str = _MINOR_ID,
    customer: CustomerPrincipal = Depends(require_customer),
) -> JSONResponse:
    minor = call(guardians.ward, customers, customer, minor_id)
    change = call(
        consents.grant,
        policies,
        credentials,
        customers,
        minor,
        purposes=body.purposes,
        categories=body.categories,
        recipients=body.recipients,
        notice_version=body.notice.version,
        notice_sha256=body.notice.sha256,
        lang=body.lang,
        separate=body.separate,
        cross_border=body.cross_border,
        valid_until=body.valid_until,
        method="api",
        guardian=customer,
    )
    return JSONResponse(change.to_dict(), status_code=201)


@router.post(
    "/v1/me/wards/{minor_id}/consents/{record_id}/withdraw",
    tags=["customer consents"],
    summary="Withdraw a minor's consent, as their guardian",
    description="As `POST /v1/me/consents/{record_id}/withdraw`; the ledger entry's actor is your pseudonym.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        **json_example(dict(_CHANGE_EXAMPLE, action="withdrawn", receipt_id=None)),
        **problem_responses(401, 404, 409, 503),
    },
)
def withdraw_for_ward(
    policies: PoliciesDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    minor_id: str = _MINOR_ID,
    record_id: str = Path(max_length=100, description="A consent record id of the minor."),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    minor = call(guardians.ward, customers, customer, minor_id)
    return call(consents.withdraw, policies, credentials, minor, record_id, guardian=customer).to_dict()
