"""The customer's rights over their data: consents and their receipts, the log of who accessed it, export
(portability), erasure, value-for-data points and custody of the customer's DID key.

Plain functions shared by the REST routes (`/v1/me/...`) and the portal, so both answer alike; their
failures are `CustomerRightsError`s carrying the problem type they become.

The modules are the API (`consents.grant`, `erasure.request_erasure`, ...); the collaborator bundles and the
errors are exported here too.
"""

from gateway.rights import (
    access_log,
    consents,
    did_custody,
    erasure,
    guardians,
    objections,
    points,
    portability,
    receipts,
    rectification,
    refusals,
    sale_opt_out,
    transfers,
    value,
)
from gateway.rights.access_log import AccessEntry, AccessLog
from gateway.rights.consents import BulkWithdrawal, ConsentChange
from gateway.rights.did_custody import ReleasedKey
from gateway.rights.erasure import Erasures
from gateway.rights.errors import (
    ConcurrentConsentChange,
    ConsentStateConflict,
    CrossBorderConsentRequired,
    CustomerRightsError,
    ErasureInProgress,
    GuardianConsentRequired,
    InvalidConsentRequest,
    InvalidGuardianship,
    InvalidRectification,
    InvalidTransfer,
    NotFoundError,
    NoticeChanged,
    SeparateConsentRequired,
    TransferGone,
)
from gateway.rights.portability import Portability
from gateway.rights.receipts import ReceiptSummary
from gateway.rights.rectification import Rectifications
from gateway.rights.rfc3339 import rfc3339
from gateway.rights.transfers import Transfers

__all__ = [
    "AccessEntry",
    "AccessLog",
    "BulkWithdrawal",
    "ConcurrentConsentChange",
    "ConsentChange",
    "ConsentStateConflict",
    "CrossBorderConsentRequired",
    "CustomerRightsError",
    "ErasureInProgress",
    "Erasures",
    "GuardianConsentRequired",
    "InvalidConsentRequest",
    "InvalidGuardianship",
    "InvalidRectification",
    "InvalidTransfer",
    "NotFoundError",
    "NoticeChanged",
    "Portability",
    "ReceiptSummary",
    "Rectifications",
    "ReleasedKey",
    "SeparateConsentRequired",
    "TransferGone",
    "Transfers",
    "access_log",
    "consents",
    "did_custody",
    "erasure",
    "guardians",
    "objections",
    "points",
    "portability",
    "receipts",
    "rectification",
    "refusals",
    "rfc3339",
    "sale_opt_out",
    "transfers",
    "value",
]
