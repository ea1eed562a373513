"""Retention for the customer under `/v1/me`: when each consent lapses and what is deleted then, the deletion
requests sent to source systems on their behalf with per-source status, and renewal of a consent's period."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path

from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import RetentionDep, idempotent, require_customer
from gateway.retention import deletion_status, renew, schedule
from gateway.routers.consents import call, json_example
from gateway.web.problems import problem_responses

router = APIRouter(prefix="/v1/me", tags=["customer consents"])
_RECORD_ID = "3f1c2a9e-8b7d-4e6f-a5c4-1d2e3f4a5b6c"


@router.get(
    "/retention",
    summary="When my consents lapse",
    description="Every live consent with the date it lapses unless renewed (its purposes' consent period since it "
    "was last given or renewed), whether the advance notice is due (`notice`, within "
    "CONSENTRY_RETENTION_NOTICE_DAYS), how long each kind of record about me is kept, and which categories the "
    "source systems will be asked to delete when it lapses; then the deletion requests already sent, per source.",
    responses={
        **json_example(
            {
                "notice_days": 30,
                "consents": [
                    {
                        "record_id": _RECORD_ID,
                        "purposes": ["joint_rnd"],
                        "categories": ["vehicle", "behavior.driving"],
                        "lapses_at": "2028-12-06T11:40:16Z",
                        "days_left": 729,
                        "notice": False,
                        "erased_after_days": {"access_log": 365, "zk_answers": 180, "exports": 1825, "receipts": 1825},
                        "deleted_at_source": ["behavior.driving"],
                    }
                ],
                "deletions": [
                    {
                        "deletion_id": "9b2e7c1a-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
                        "purpose": "joint_rnd",
                        "categories": ["behavior.driving"],
                        "ledger_index": 120,
                        "sources": [
                            {
                                "source": "vehicle-cloud",
                                "status": "deleted",
                                "attempts": 1,
                                "upstream_status": 200,
                                "last_error": None,
                                "ledger_index": 121,
                            }
                        ],
                    }
                ],
            }
        ),
        **problem_responses(401, 503),
    },
)
def my_retention(retention: RetentionDep, customer: CustomerPrincipal = Depends(require_customer)) -> dict[str, Any]:
    return {
        "notice_days": retention.settings.retention_notice_days,
        "consents": [lapse.to_dict() for lapse in call(schedule, retention, customer)],
        "deletions": deletion_status(retention, customer.customer_id),
    }


@router.post(
    "/consents/{record_id}/renew",
    summary="Renew a consent's period",
    description="One click from the lapse notice: a `renewed` consent event (a ledger entry) restarts the period "
    "on the same terms, and a fresh receipt is issued when the record cites an agreement. Only a given or "
    "renewed consent can be renewed (409 otherwise); another customer's record answers 404.",
    dependencies=[Depends(idempotent(require_customer))],
    responses={
        **json_example(
            {
                "action": "renewed",
                "record": {"record_id": _RECORD_ID, "status": "renewed"},
                "receipt_id": "urn:uuid:5f0e…",
                "revoked_receipts": [],
            }
        ),
        **problem_responses(401, 404, 409, 503),
    },
)
def renew_consent(
    retention: RetentionDep,
    record_id: str = Path(max_length=100, description="A consent record id.", examples=[_RECORD_ID]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return call(renew, retention, customer, record_id).to_dict()
