"""Retention: every purpose's periods enforced (consents lapse, payloads are erased, sources told to delete what no
purpose needs), planned before it is done, and told to the customer in advance.

`plan.survey` finds what is due at the clock's now; `enforcer.run_retention` does it under the database lease
erasure uses (`sweep_retention` runs it in every gateway process); `notices` is what the portal shows per consent.
"""

from gateway.retention.enforcer import (
    DELETION_EVENT,
    DELETION_REQUEST_EVENT,
    ERASURE_EVENT,
    RECEIPTS_EVENT,
    RETENTION_ACTOR,
    RunReport,
    deletion_status,
    run_retention,
    sweep_retention,
)
from gateway.retention.notices import ConsentLapse, renew, schedule
from gateway.retention.plan import PAYLOAD_KINDS, Retention, Survey, lapse_at, survey

__all__ = [
    "DELETION_EVENT",
    "DELETION_REQUEST_EVENT",
    "ERASURE_EVENT",
    "PAYLOAD_KINDS",
    "RECEIPTS_EVENT",
    "RETENTION_ACTOR",
    "ConsentLapse",
    "Retention",
    "RunReport",
    "Survey",
    "deletion_status",
    "lapse_at",
    "renew",
    "run_retention",
    "schedule",
    "survey",
    "sweep_retention",
]
