"""The CRM's proxy: one call that returns exactly the fields a client may see, and a "may I?" question.

Both routes take the purpose in the `Consentry-Purpose` header and name the record by the upstream's own
path (`/v1/proxy/vehicle-cloud/customers/cust-1001`). The steps and their order live in `gateway.proxy.access`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.audit.integrity import LedgerIntegrity
from gateway.auth.bearer import BearerAuthenticator
from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import PROXY_GRANTS, authenticate_client, parse_bearer
from gateway.proxy import access
from gateway.web.json_response import RawJSONResponse
from gateway.web.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["proxy"])

LEDGER_INDEX_HEADER = "Consentry-Ledger-Index"
_LEDGER_INDEX = LEDGER_INDEX_HEADER.lower().encode()
_NO_STORE = (b"cache-control", b"no-store")
_ERRORS = (400, 401, 403, 404, 409, 413, 502, 503, 504)

# These routes read their bearer token and purpose header themselves: FastAPI's dependency solving cost more
# than everything else the route does. So the contract those dependencies would document is declared here.
_HAND_DECLARED: dict[str, Any] = {
    "parameters": [
        {
            "name": access.PURPOSE_HEADER,
            "in": "header",
            "required": False,
            "description": "The declared purpose of this access (a taxonomy purpose id the client is registered "
            "for). Without it the answer is 400 `purpose-required`.",
            "schema": {"type": "string", "examples": ["service_delivery"]},
        }
    ],
    "security": [{"oauth2-bearer": []}],
}
# A read may also say which department of the client's organization it is for, and which staff member (by a
# pseudonymous id): both go into the ledger entry and the customer's "who used my data".
_READ_DECLARED: dict[str, Any] = {
    **_HAND_DECLARED,
    "parameters": [
        *_HAND_DECLARED["parameters"],
        {
            "name": access.DEPARTMENT_HEADER,
            "in": "header",
            "required": False,
            "description": "The department of the client's organization the read is for (one the taxonomy lists "
            "for the organization, else 400 `unknown-department`).",
            "schema": {"type": "string", "examples": ["customer-service"]},
        },
        {
            "name": access.STAFF_HEADER,
            "in": "header",
            "required": False,
            "description": "A pseudonymous id of the staff member the read is for (never a name).",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "examples": ["agent-7f3a"]},
        },
    ],
}


@dataclass(frozen=True)
class ProxyCollaborators:
    """What the proxy routes use, resolved once when the app starts (`app.state.proxy`): these routes bypass
    FastAPI's dependency solving (`gateway.web.direct_routes`), so they take no `Annotated` dependencies."""

    bearer: BearerAuthenticator
    flow: access.AccessFlow
    integrity: LedgerIntegrity


# The request headers each route reads, by their place in `_head`'s answer.
_READ_HEAD = {
    b"authorization": 0,
    access.PURPOSE_HEADER.lower().encode(): 1,
    access.DEPARTMENT_HEADER.lower().encode(): 2,
    access.STAFF_HEADER.lower().encode(): 3,
}
_CHECK_HEAD = {b"authorization": 0, access.PURPOSE_HEADER.lower().encode(): 1}


def _head(request: Request, names: Mapping[bytes, int]) -> list[str | None]:
    """The first value of each header in `names`, as `request.headers.get` reads it, in one pass over the head."""
    found: list[str | None] = [None] * len(names)
    for name, value in request.scope["headers"]:
        place = names.get(name)
        if place is not None and found[place] is None:
            found[place] = value.decode("latin-1")
    return found


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params) if request.scope["query_string"] else {}


async def _proxy_client(request: Request, authorization: str | None) -> tuple[access.AccessFlow, ClientPrincipal]:
    """The access flow and the CRM client calling, with the same checks and answers as `require_client`."""
    parts: ProxyCollaborators = request.app.state.proxy
    principal = await authenticate_client(request, parts.bearer, parse_bearer(authorization))
    granted = PROXY_GRANTS.check(principal)
    if parts.integrity.failure is not None:
        # The stored log no longer produces the head the gateway signed (or was not audited yet): an access
        # recorded there could not be proven, so nothing is released.
        raise Problem(503, "ledger-unverified", "The ledger failed its self-audit, so nothing is released.")
    return parts.flow, granted


SOURCE = Path(description="The registered upstream (source system).", examples=["vehicle-cloud"])
UPSTREAM_PATH = Path(description="The upstream's own resource path.", examples=["customers/cust-1001"])


class ProxyRead(BaseModel):
    """The filtered record and the account of what the client does not see."""

    data: Any = Field(description="The upstream's JSON with every field not released and every unmapped field removed.")
    purpose: str
    released: list[str] = Field(description="Categories present in the record and released.")
    withheld: dict[str, list[str]] = Field(description="Withheld categories with their reason codes.")
    unmapped_withheld: int = Field(description="Fields withheld because no category is mapped to them.")
    ledger_index: int = Field(description="The ledger entry recording this access (also a response header).")
    matrix_version: int
    points_accrued: int = Field(0, description="Value-for-data points the customer earned by this access.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "data": {"name": "Li Wei", "vehicle": {"vin": "LSVAU2180N2183294", "fault_codes": ["P0301"]}},
                    "purpose": "service_delivery",
                    "released": ["contact.phone", "identity.name", "vehicle.fault_codes", "vehicle.vin"],
                    "withheld": {"identity.national_id": ["matrix_deny"], "behavior.driving": ["no_matching_rule"]},
                    "unmapped_withheld": 1,
                    "ledger_index": 42,
                    "matrix_version": 1,
                    "points_accrued": 0,
                }
            ]
        }
    }


class CategoryAnswer(BaseModel):
    allowed: bool
    reasons: list[str] = Field(description="For a withheld category, why (reason codes).")


class MayIAnswer(BaseModel):
    """Yes or no per category of the upstream's field map, for this client, subject and purpose."""

    purpose: str
    matrix_version: int
    ledger_index: int = Field(description="The ledger entry recording this question.")
    categories: dict[str, CategoryAnswer]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "purpose": "marketing",
                    "matrix_version": 1,
                    "ledger_index": 43,
                    "categories": {
                        "contact.phone": {"allowed": False, "reasons": ["consent_withdrawn"]},
                        "identity.national_id": {"allowed": False, "reasons": ["matrix_deny"]},
                    },
                }
            ]
        }
    }


@router.get(
    "/proxy/{source}/{path:path}",
    summary="Read a record through the policy filter",
    description=(
        "Forwards the read to the registered upstream and returns only the fields whose data category is "
        "released for this client, the record's customer and the declared purpose; unmapped fields are always "
        "removed. The access is appended to the ledger before anything is returned: if the ledger cannot "
        "write, nothing is released (503). Withheld categories come with reason codes. When nothing at all may "
        "be released the answer is 403 `access-refused` (also recorded). Unknown upstreams, resources and "
        "customers all answer the same 404. Needs scope `proxy` and the role `crm`."
    ),
    response_model=ProxyRead,
    openapi_extra=_READ_DECLARED,
    responses={
        200: {
            "headers": {
                LEDGER_INDEX_HEADER: {"description": "Ledger index of this access.", "schema": {"type": "integer"}}
            }
        },
        **problem_responses(*_ERRORS),
    },
)
async def proxy_read(request: Request, source: str = SOURCE, path: str = UPSTREAM_PATH) -> JSONResponse:
    authorization, purpose, department, staff = _head(request, _READ_HEAD)
    flow, principal = await _proxy_client(request, authorization)
    outcome = await access.read(
        flow, principal, source, path, _query(request), purpose, department=department, staff=staff
    )
    # `ProxyRead`'s fields, built directly: validating what the gateway itself just typed is pure cost here.
    body = {
        "data": outcome.result.document,
        "purpose": outcome.decision.purpose,
        "released": list(outcome.result.released_categories),
        "withheld": outcome.withheld,
        "unmapped_withheld": len(outcome.result.unmapped),
        "ledger_index": outcome.ledger_index,
        "matrix_version": outcome.decision.matrix_version,
        "points_accrued": outcome.points,
    }
    return RawJSONResponse(body, ((_LEDGER_INDEX, b"%d" % outcome.ledger_index), _NO_STORE))


@router.get(
    "/decisions/{source}/{path:path}",
    summary="May I? Consent status per category, without fetching",
    description=(
        "Answers yes or no per data category of the upstream's field map for this client, the record's customer "
        "and the declared purpose, without calling the upstream. The answer discloses the customer's consent "
        "state, so the question itself is recorded in the ledger (type `access.check`) and its index returned. "
        "Needs scope `proxy` and the role `crm`."
    ),
    response_model=MayIAnswer,
    openapi_extra=_HAND_DECLARED,
    responses=problem_responses(*_ERRORS),
)
async def may_i(request: Request, source: str = SOURCE, path: str = UPSTREAM_PATH) -> JSONResponse:
    authorization, purpose = _head(request, _CHECK_HEAD)
    flow, principal = await _proxy_client(request, authorization)
    outcome = await access.check(flow, principal, source, path, _query(request), purpose)
    answer = MayIAnswer(
        purpose=outcome.decision.purpose,
        matrix_version=outcome.decision.matrix_version,
        ledger_index=outcome.ledger_index,
        categories={
            c.category: CategoryAnswer(allowed=c.allowed, reasons=[] if c.allowed else access.public_reasons(c.reasons))
            for c in outcome.decision.categories
        },
    )
    return JSONResponse(
        answer.model_dump(), headers={LEDGER_INDEX_HEADER: str(outcome.ledger_index), "Cache-Control": "no-store"}
    )
