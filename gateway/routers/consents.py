"""The customer's consent API under `/v1/me`: catalog, consent state, grant, withdraw, history, accesses, receipts.

Thin HTTP over `gateway.rights.consents`, `gateway.rights.receipts` and `gateway.rights.access_log` (the portal
calls the same functions). Every route needs the customer's session cookie and only ever touches that customer's
data; writes take an `Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import (
    AccessLogDep,
    CredentialsDep,
    CustomersDep,
    EngineDep,
    PoliciesDep,
    idempotent,
    require_customer,
)
from gateway.rights import access_log, consents, objections, receipts, sale_opt_out
from gateway.rights.errors import CustomerRightsError
from gateway.web.problems import Problem, problem_responses
from policies import CollectionMethod, RecordKind, StateUnavailableError


def honour_gpc_signal(
    request: Request, policies: PoliciesDep, customer: CustomerPrincipal = Depends(require_customer)
) -> None:
    """Every request of the consent API carrying `Sec-GPC: 1` opts the customer out of selling and sharing where
    their law gives that opt-out (recorded once, in the ledger, before the route answers)."""
    call(sale_opt_out.honour_gpc, policies, customer, request.headers.get(sale_opt_out.GPC_HEADER))


router = APIRouter(prefix="/v1/me", tags=["customer consents"], dependencies=[Depends(honour_gpc_signal)])
T = TypeVar("T")
Lang = Literal["en", "zh-CN"]
LANG_QUERY = Query("en", description="Language of labels and of the agreement text.", examples=["zh-CN"])
_RECORD_ID = "0b6f4d0e-3a51-4b0e-9b0c-8e2f1c7d5a10"
_RECEIPT_ID = "urn:uuid:5f0e2c1a-6b7d-4e8f-9a0b-1c2d3e4f5a6b"


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a rights service, turning its errors into problem+json (and an unreadable state into 503)."""
    try:
        return fn(*args, **kwargs)
    except CustomerRightsError as exc:
        extensions = {"categories": exc.categories} if hasattr(exc, "categories") else {}
        retry = getattr(exc, "retry_after_seconds", None)
        headers = {"Retry-After": str(retry)} if retry is not None else None
        raise Problem(exc.status_code, exc.kind, exc.message, headers=headers, **extensions) from exc
    except StateUnavailableError as exc:
        raise Problem(503, "unavailable", "Consent state cannot be read right now; try again shortly.") from exc


class CredentialResponse(JSONResponse):
    """A verifiable credential as a file: the media type VC 2.0 registered (IANA `application/vc`)."""

    media_type = "application/vc"


def json_example(example: Any, description: str = "OK") -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}


class NoticeCited(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=50, description="The agreement version shown.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the exact agreement text shown.")


class GrantRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "purposes": ["joint_rnd"],
                    "categories": ["vehicle.mileage", "location.precise"],
                    "recipients": ["org:stuttgart-rnd"],
                    "notice": {"version": "1.1", "sha256": "9f2c" + "0" * 60},
                    "lang": "en",
                    "separate": ["location.precise"],
                    "cross_border": True,
                }
            ]
        },
    )
    purposes: list[str] = Field(min_length=1, max_length=20)
    categories: list[str] = Field(min_length=1, max_length=50)
    recipients: list[str] = Field(
        default=["any"], min_length=1, max_length=20, description="`org:<id>`, `role:<role>` or `any`."
    )
    notice: NoticeCited
    lang: Lang = Field("en", description="The language of the agreement text the customer saw.")
    separate: list[str] = Field(
        default=[],
        max_length=50,
        description="Sensitive categories the customer confirmed one by one (PIPL Art. 29 separate consent).",
    )
    cross_border: bool = Field(False, description="The customer separately consented to transfers abroad.")
    valid_until: AwareDatetime | None = Field(None, description="When the consent lapses; default: never.")


_CHANGE_EXAMPLE = {
    "action": "given",
    "record": {
        "record_id": _RECORD_ID,
        "kind": "consent",
        "status": "given",
        "purposes": ["marketing"],
        "categories": ["contact"],
        "recipients": ["any"],
        "jurisdiction": "CN",
        "legal_basis": "consent",
        "notice": {"id": "notice-CN-en", "version": "1.1", "sha256": "9f2c" + "0" * 60},
        "separate": False,
        "given_by": "subject",
        "cross_border": False,
        "valid_from": "2026-11-21T10:00:00Z",
        "valid_until": None,
        "updated_at": "2026-11-21T10:00:00Z",
        "ledger_index": 42,
    },
    "receipt_id": _RECEIPT_ID,
    "revoked_receipts": [],
}


@router.get(
    "/catalog",
    summary="What I can consent to",
    description="Purposes (with their legal basis in my jurisdiction and any value-for-data offer), data categories "
    "(sensitive ones need a separate confirmation), recipients (those abroad need a cross-border confirmation) and "
    "the current agreement text, version and SHA-256 in the chosen language — the notice a grant must cite.",
    responses={
        **json_example(
            {
                "jurisdiction": "CN",
                "law": "PIPL",
                "lang": "en",
                "purposes": [{"id": "marketing", "label": "Marketing", "needs_consent": True, "value_offer": None}],
                "categories": [{"id": "identity.national_id", "sensitive": True, "needs_separate_consent": True}],
                "recipients": [{"id": "stuttgart-rnd", "jurisdiction": "DE", "needs_cross_border_consent": True}],
                "agreement": {"id": "notice-CN-en", "version": "1.1", "sha256": "9f2c" + "0" * 60, "text": "…"},
            }
        ),
        **problem_responses(401, 422),
    },
)
def get_catalog(
    policies: PoliciesDep, lang: Lang = LANG_QUERY, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return call(consents.catalog, policies, customer, lang=lang)


@router.get(
    "/consents",
    summary="My consents: the current state",
    description="Every data category x purpose x recipient the enterprise matrix allows for me, with its state: "
    "`given`, `withdrawn`, `expired`, `refused`, `not_asked`, or `not_needed` (the purpose rests on another legal "
    "basis such as a contract), plus my consent records with the agreement version each cites.",
    responses={
        **json_example(
            {
                "jurisdiction": "CN",
                "cells": [
                    {
                        "recipient": "bright-marketing",
                        "purpose": "marketing",
                        "category": "contact.phone",
                        "mode": "release",
                        "state": "given",
                        "legal_basis": "consent",
                        "record_id": _RECORD_ID,
                        "notice_version": "1.1",
                        "ledger_index": 42,
                        "sensitive": False,
                    }
                ],
                "records": [_CHANGE_EXAMPLE["record"]],
            }
        ),
        **problem_responses(401, 503),
    },
)
def get_consents(policies: PoliciesDep, customer: CustomerPrincipal = Depends(require_customer)) -> dict[str, Any]:
    return call(consents.consent_state, policies, customer)


@router.post(
    "/consents",
    status_code=201,
    summary="Give consent",
    description="Records a consent citing the agreement the customer saw (its version and SHA-256 must be the "
    "current ones for the customer's jurisdiction and `lang`, else 409 `notice-changed`). Sensitive categories "
    "must each be listed in `separate` (else 422 `separate-consent-required`, naming them); recipients abroad "
    "need `cross_border`. A record of exactly this scope is renewed or given again rather than duplicated. "
    "Every grant issues a consent receipt (a W3C VC 2.0 credential, see `/v1/me/receipts`).",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        201: {"description": "Created", "content": {"application/json": {"example": _CHANGE_EXAMPLE}}},
        **problem_responses(401, 409, 422, 503),
    },
)
def grant_consent(
    policies: PoliciesDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    body: GrantRequest,
    customer: CustomerPrincipal = Depends(require_customer),
) -> JSONResponse:
    change = call(
        consents.grant,
        policies,
        credentials,
        customers,
        customer,
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
    )
    return JSONResponse(change.to_dict(), status_code=201)


@router.post(
    "/consents/withdraw-marketing",
    summary="Withdraw all marketing consents",
    description="One call withdraws every live consent covering a marketing purpose (DPV marketing purposes and "
    "purposes that sell or share data); each withdrawal is its own ledger entry and revokes its receipts.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        **json_example({"withdrawn": [dict(_CHANGE_EXAMPLE, action="withdrawn", receipt_id=None)], "count": 1}),
        **problem_responses(401, 503),
    },
)
def withdraw_marketing(
    policies: PoliciesDep, credentials: CredentialsDep, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return call(consents.withdraw_all_marketing, policies, credentials, customer).to_dict()


class ConsentCell(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=100, examples=["behavior.driving"])
    purpose: str = Field(max_length=100, examples=["joint_rnd"])
    recipient: str = Field(max_length=100, description="A recipient organisation id.", examples=["stuttgart-rnd"])


class CellWithdrawalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cells: list[ConsentCell] = Field(min_length=1, max_length=200)


@router.post(
    "/consents/withdraw-cells",
    summary="Withdraw exactly some cells",
    description="Withdraws exactly these category × purpose × recipient cells (with their sub-categories, and "
    "the parents that would include them) from every live consent covering them; the rest of each stays given. "
    "Each such record is split: the rest continues as a new record under the same agreement, with its own receipt "
    "(`remainder`), then the record is withdrawn and its receipts revoked — each a ledger entry. 409 when no "
    "given consent covers the cells.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        **json_example(
            {
                "withdrawals": [
                    {
                        "withdrawn": dict(_CHANGE_EXAMPLE, action="withdrawn", receipt_id=None),
                        "remainder": _CHANGE_EXAMPLE,
                        "cells": [
                            {"category": "behavior.driving", "purpose": "joint_rnd", "recipient": "stuttgart-rnd"}
                        ],
                    }
                ]
            }
        ),
        **problem_responses(401, 409, 422, 503),
    },
)
def withdraw_cells(
    policies: PoliciesDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    body: CellWithdrawalRequest,
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    cells = [(c.category, c.purpose, c.recipient) for c in body.cells]
    done = call(consents.withdraw_cells, policies, credentials, customers, customer, cells)
    return {"withdrawals": [w.to_dict() for w in done]}


@router.post(
    "/consents/{record_id}/withdraw",
    summary="Withdraw a consent",
    description="GDPR Art. 7(3): effective for the very next decision. The withdrawal is a ledger entry and, in "
    "the same transaction, every receipt of this consent is revoked in the public status list. Another "
    "customer's record answers exactly like a record that does not exist (404).",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        **json_example(dict(_CHANGE_EXAMPLE, action="withdrawn", receipt_id=None, revoked_receipts=[_RECEIPT_ID])),
        **problem_responses(401, 404, 409, 503),
    },
)
def withdraw_consent(
    policies: PoliciesDep,
    credentials: CredentialsDep,
    record_id: str = Path(max_length=100, description="A consent record id.", examples=[_RECORD_ID]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return call(consents.withdraw, policies, credentials, customer, record_id).to_dict()


@router.get(
    "/consents/history",
    summary="My consent history",
    description="Every consent event (given, renewed, withdrawn, …) oldest first, with its ledger index.",
    responses={
        **json_example(
            [
                {
                    "record_id": _RECORD_ID,
                    "seq": 1,
                    "status": "given",
                    "time": "2026-11-21T10:00:00Z",
                    "actor": "customer:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                    "ledger_index": 42,
                    "purposes": ["marketing"],
                    "categories": ["contact"],
                    "recipients": ["any"],
                    "notice_version": "1.1",
                }
            ]
        ),
        **problem_responses(401),
    },
)
def consent_history(
    policies: PoliciesDep, customer: CustomerPrincipal = Depends(require_customer)
) -> list[dict[str, Any]]:
    return call(consents.history, policies, customer)


@router.get(
    "/accesses",
    summary="Who used my data",
    description="Every access to my data recorded in the ledger: the recipient organization, purpose, categories "
    "released and withheld (with reasons), time and ledger index (ask the auditor API for its inclusion proof). "
    "Zero-knowledge predicate queries (`type` `zk.query`) are listed too, answered or refused: `predicate` names the "
    "attribute, the predicate asked and the yes/no given; no value was released. "
    "Filter by recipient, purpose and period; page with `after` (the last ledger index seen).",
    responses={
        **json_example(
            [
                {
                    "ledger_index": 57,
                    "type": "access.proxy",
                    "time": "2026-11-21T10:05:00Z",
                    "recipient": "dealer-sh-4s",
                    "organization": "Acme Pudong 4S Dealership (Shanghai)",
                    "purpose": "repair_prediction",
                    "released": ["vehicle.vin", "vehicle.fault_codes"],
                    "withheld": {"identity.national_id": ["matrix_deny"]},
                    "source": "vehicle-cloud",
                    "erased": False,
                    "predicate": None,
                },
                {
                    "ledger_index": 61,
                    "type": "zk.query",
                    "time": "2026-11-21T11:00:00Z",
                    "recipient": "bright-marketing",
                    "organization": "Bright Marketing Co.",
                    "purpose": "marketing",
                    "released": [],
                    "withheld": {},
                    "source": None,
                    "erased": False,
                    "predicate": {
                        "attribute": "age",
                        "category": "profile.birth_date",
                        "predicate": {"op": ">=", "operands": [18]},
                        "outcome": "answered",
                        "holds": True,
                    },
                },
            ]
        ),
        **problem_responses(401, 422),
    },
)
def my_accesses(
    log: AccessLogDep,
    recipient: str | None = Query(None, max_length=200, examples=["dealer-sh-4s"]),
    purpose: str | None = Query(None, max_length=200, examples=["repair_prediction"]),
    since: AwareDatetime | None = Query(
        None, description="From this time (inclusive).", examples=["2026-11-01T00:00:00Z"]
    ),
    until: AwareDatetime | None = Query(None, description="Before this time.", examples=["2026-12-01T00:00:00Z"]),
    after: int = Query(-1, ge=-1, description="Only entries after this ledger index."),
    limit: int = Query(100, ge=1, le=1000),
    lang: Lang = LANG_QUERY,
    customer: CustomerPrincipal = Depends(require_customer),
) -> list[dict[str, Any]]:
    found = call(
        access_log.accesses,
        log,
        customer,
        recipient=recipient,
        purpose=purpose,
        since=since,
        until=until,
        after=after,
        limit=limit,
        lang=lang,
    )
    return [entry.to_dict() for entry in found]


@router.get(
    "/receipts",
    summary="My consent receipts",
    description="Every consent receipt issued to me, newest first, with its live status (`valid` or `revoked`) "
    "read from the published Bitstring Status List.",
    responses={
        **json_example(
            [
                {
                    "receipt_id": _RECEIPT_ID,
                    "record_id": _RECORD_ID,
                    "status": "revoked",
                    "issued_at": "2026-11-21T10:00:00Z",
                    "ledger_index": 42,
                    "revoked_at": "2026-11-21T11:00:00Z",
                    "purposes": ["https://w3id.org/dpv#DirectMarketing"],
                    "categories": ["https://w3id.org/dpv/pd#Contact"],
                    "valid_until": None,
                }
            ]
        ),
        **problem_responses(401),
    },
)
def my_receipts(
    engine: EngineDep, credentials: CredentialsDep, customer: CustomerPrincipal = Depends(require_customer)
) -> list[dict[str, Any]]:
    return [r.to_dict() for r in call(receipts.list_receipts, engine, credentials, customer)]


@router.get(
    "/receipts/{receipt_id}",
    summary="Download a consent receipt",
    response_class=CredentialResponse,
    description="The signed verifiable credential exactly as issued (VC 2.0, Data Integrity `eddsa-rdfc-2022`), "
    "as a download. Anyone can verify it with `POST /credentials/verify`.",
    responses={
        200: {
            "description": "The credential",
            "content": {
                "application/vc": {"example": {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": _RECEIPT_ID}}
            },
        },
        **problem_responses(401, 404),
    },
)
def download_receipt(
    engine: EngineDep,
    receipt_id: str = Path(max_length=100, examples=[_RECEIPT_ID]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> CredentialResponse:
    credential = call(receipts.get_receipt, engine, customer, receipt_id)
    name = receipt_id.rsplit(":", 1)[-1]
    return CredentialResponse(
        credential,
        headers={"Content-Disposition": f'attachment; filename="consent-receipt-{name}.json"'},
    )


class PrivacyChoices(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"do_not_sell_or_share": True, "limit_sensitive": False}]}
    )
    do_not_sell_or_share: bool | None = Field(
        None, description="Cal. Civ. Code 1798.120: opt out of selling or sharing (false opts back in)."
    )
    limit_sensitive: bool | None = Field(
        None, description="1798.121: limit the use of sensitive personal information to what the service needs."
    )


_CHOICES_EXAMPLE = {
    "applies": True,
    "do_not_sell_or_share": {
        "record_id": _RECORD_ID,
        "since": "2026-11-21T10:00:00Z",
        "method": "gpc",
        "ledger_index": 42,
    },
    "limit_sensitive": None,
}


@router.get(
    "/privacy-choices",
    summary="My CCPA choices",
    description="Where my law gives them (`applies`, e.g. US-CA): whether I opted out of the sale or sharing of "
    "my personal information (by the portal, the API or a Global Privacy Control signal, `method` `gpc`) and "
    "whether I limited the use of my sensitive personal information, each with its ledger entry.",
    responses={**json_example(_CHOICES_EXAMPLE), **problem_responses(401, 503)},
)
def get_privacy_choices(
    policies: PoliciesDep, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return call(sale_opt_out.choices, policies, customer).to_dict()


@router.put(
    "/privacy-choices",
    summary="Change my CCPA choices",
    description='Turns "Do Not Sell or Share" and "Limit the Use of My Sensitive Personal Information" on or '
    "off (an omitted choice stays as it is). Each change is a ledger entry and applies to the very next proxied "
    "read. A customer whose law gives no such choice gets 422.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={**json_example(_CHOICES_EXAMPLE), **problem_responses(401, 422, 503)},
)
def put_privacy_choices(
    policies: PoliciesDep, body: PrivacyChoices, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    for kind, on in (
        (RecordKind.OPT_OUT, body.do_not_sell_or_share),
        (RecordKind.LIMIT_SENSITIVE, body.limit_sensitive),
    ):
        if on is not None:
            call(sale_opt_out.choose, policies, customer, kind, on, method=CollectionMethod.API)
    return call(sale_opt_out.choices, policies, customer).to_dict()


class Standing(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"on": True}]})
    on: bool = Field(description="true makes the objection or restriction; false withdraws or lifts it.")


_REFUSALS_EXAMPLE = {
    "objections": [
        {
            "purpose": "repair_prediction",
            "legal_basis": "legitimate_interest",
            "objection": {"record_id": _RECORD_ID, "since": "2026-11-21T10:00:00Z", "ledger_index": 42},
        }
    ],
    "restriction_available": True,
    "restriction": None,
}


@router.get(
    "/objections",
    summary="My objections and restriction",
    description="The purposes resting, for me, on a basis my law lets me object to (GDPR Art. 21: a legitimate "
    "or public interest), with my standing objection to each, and whether I restricted processing (GDPR Art. 18, "
    "PIPL Art. 44).",
    responses={**json_example(_REFUSALS_EXAMPLE), **problem_responses(401, 503)},
)
def get_objections(policies: PoliciesDep, customer: CustomerPrincipal = Depends(require_customer)) -> dict[str, Any]:
    return call(objections.overview, policies, customer)


@router.put(
    "/objections/{purpose}",
    summary="Object to a use, or withdraw the objection",
    description="GDPR Art. 21: from the very next proxied read the purpose's use of my data stops (reason "
    "`objection`); a ledger entry. A purpose that rests on my consent or a contract answers 422.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={**json_example(_REFUSALS_EXAMPLE), **problem_responses(401, 422, 503)},
)
def put_objection(
    policies: PoliciesDep,
    body: Standing,
    purpose: str = Path(max_length=100, examples=["repair_prediction"]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    call(objections.object_to, policies, customer, purpose, body.on)
    return call(objections.overview, policies, customer)


@router.put(
    "/restriction",
    summary="Restrict processing, or lift the restriction",
    description="GDPR Art. 18, PIPL Art. 44: while it stands, every use resting on a contract, a legitimate "
    "interest or a notice is refused (reason `processing_restricted`); consented uses and legal duties go on. "
    "A ledger entry; 422 where the law gives no restriction.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={**json_example(_REFUSALS_EXAMPLE), **problem_responses(401, 422, 503)},
)
def put_restriction(
    policies: PoliciesDep, body: Standing, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    call(objections.restrict, policies, customer, body.on)
    return call(objections.overview, policies, customer)
