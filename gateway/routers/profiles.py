"""Federation: one profile read across every source holding a customer, and the unified index behind it.

The CRM names the customer by any identifier a source uses for them (`GET /v1/profiles/ACC-880101`); the steps
live in `gateway.proxy.profiles`. Administrators (or a source system reporting a new customer) link a source's
identifier to a gateway customer through `/v1/admin/customers/{id}/identifiers`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.identity_index import IdentifierInUseError, InvalidIdentifierError
from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import (
    PROXY_GRANTS,
    CustomersDep,
    IdentitiesDep,
    ProfilesDep,
    UpstreamsDep,
    current_client,
    require_admin,
)
from gateway.proxy import access
from gateway.proxy.profiles import read_profile
from gateway.web.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["federation"])

LEDGER_INDEX_HEADER = "Consentry-Ledger-Index"


class SourceStatus(BaseModel):
    status: str = Field(
        description="`released`, `withheld` (nothing allowed, the source was not called), `not-found`, `failed`, "
        "`timeout` or `decision-failed`. Only `released` contributes data."
    )
    released: list[str]
    withheld: dict[str, list[str]] = Field(description="Withheld categories of this source, with reason codes.")
    unmapped_withheld: int
    problem: str | None = Field(None, description="For a failed source, the problem type it failed with.")


class Profile(BaseModel):
    """The customer's profile: each source's filtered record under its name, and what was withheld and why."""

    customer: str = Field(description="The identifier the request named the customer by.")
    purpose: str
    profile: dict[str, Any] = Field(description="Per source that released something, its filtered record.")
    sources: dict[str, SourceStatus]
    released: list[str]
    withheld: dict[str, dict[str, list[str]]] = Field(description="Per source, withheld categories and reasons.")
    ledger_index: int = Field(description="The one ledger entry recording this read (also a response header).")
    matrix_version: int
    points_accrued: int = 0

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": "ACC-880101",
                    "purpose": "marketing",
                    "profile": {
                        "vehicle-cloud": {"name": "Li Wei", "email": "li.wei@example.cn"},
                        "billing": {"holder": {"name": "Li Wei"}, "billing_city": "Shanghai"},
                    },
                    "sources": {
                        "vehicle-cloud": {
                            "status": "released",
                            "released": ["contact.email", "identity.name"],
                            "withheld": {"vehicle.vin": ["no_matching_rule"]},
                            "unmapped_withheld": 1,
                        },
                        "insurer": {
                            "status": "timeout",
                            "released": [],
                            "withheld": {},
                            "unmapped_withheld": 0,
                            "problem": "upstream-timeout",
                        },
                    },
                    "released": ["contact.email", "identity.name", "location.city"],
                    "withheld": {"vehicle-cloud": {"vehicle.vin": ["no_matching_rule"]}},
                    "ledger_index": 57,
                    "matrix_version": 1,
                    "points_accrued": 0,
                }
            ]
        }
    )


@router.get(
    "/profiles/{customer}",
    summary="Read a customer's profile across every source system",
    description=(
        "Names the customer by any identifier a source system uses for them (customer, account or policy number), "
        "finds every source holding data about them in the unified index, decides per source and category, fetches "
        "from the sources in parallel (each under its own deadline) and returns each source's filtered record "
        "with per-source status. A failed source is reported and contributes nothing; the others still answer. "
        "One ledger entry (type `access.profile`) records the read with every source's outcome before anything "
        "is returned. Nothing releasable: 403 `access-refused`, or 502 `profile-unavailable` when sources failed. "
        "Needs scope `proxy` and the role `crm`, and the purpose in `Consentry-Purpose`."
    ),
    response_model=Profile,
    responses=problem_responses(400, 401, 403, 404, 409, 502, 503),
)
async def profile_read(
    request: Request,
    flow: ProfilesDep,
    customer: str = Path(description="Any identifier a source uses for the customer.", examples=["ACC-880101"]),
    principal: ClientPrincipal = Depends(current_client),
) -> JSONResponse:
    PROXY_GRANTS.check(principal)
    outcome = await read_profile(flow, principal, customer, request.headers.get(access.PURPOSE_HEADER))
    body = {
        "customer": customer,
        "purpose": outcome.purpose,
        "profile": {s.source: s.document for s in outcome.sources if s.status == "released"},
        "sources": {s.source: s.summary() for s in outcome.sources},
        "released": outcome.released,
        "withheld": {s.source: s.withheld for s in outcome.sources if s.withheld},
        "ledger_index": outcome.ledger_index,
        "matrix_version": outcome.matrix_version,
        "points_accrued": outcome.points,
    }
    return JSONResponse(body, headers={LEDGER_INDEX_HEADER: str(outcome.ledger_index), "Cache-Control": "no-store"})


class IdentifierLink(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"identifier": "ACC-880101"}]})

    identifier: str = Field(min_length=1, max_length=128, description="The source's own identifier of the customer.")


class LinkView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "billing",
                    "identifier": "ACC-880101",
                    "linked_at": "2026-12-07T11:45:00Z",
                    "linked_by": "client:admin",
                    "categories": ["behavior.consumption", "contact.email", "financial", "identity.name"],
                }
            ]
        }
    )

    source: str
    identifier: str
    linked_at: str
    linked_by: str
    categories: list[str] = Field(description="The data categories the source's field map holds.")


CUSTOMER_ID = Path(description="The gateway's customer id.")
SOURCE = Path(description="A registered source system.", examples=["billing"])


def _link_view(upstreams: Any, link: Any) -> dict[str, Any]:
    return {**link.to_dict(), "categories": sorted(upstreams.config(link.source).field_map.categories)}


def _known(customers: Any, upstreams: Any, customer_id: str, source: str | None = None) -> None:
    if customers.get(customer_id) is None:
        raise Problem(404, "not-found", "No such customer.")
    if source is not None and source not in upstreams.names:
        raise Problem(404, "unknown-source", f"No source system {source!r} is registered.")


@router.get(
    "/admin/customers/{customer_id}/identifiers",
    summary="The sources holding a customer, and their identifiers",
    description="Every source system the unified index links to the customer, the identifier it uses for them "
    "and the data categories its field map holds. Admin clients only.",
    response_model=list[LinkView],
    tags=["admin"],
    responses=problem_responses(401, 403, 404),
)
async def list_identifiers(
    customers: CustomersDep,
    identities: IdentitiesDep,
    upstreams: UpstreamsDep,
    customer_id: str = CUSTOMER_ID,
    _admin: ClientPrincipal = Depends(require_admin),
) -> list[dict[str, Any]]:
    await run_in_threadpool(_known, customers, upstreams, customer_id)
    links = await run_in_threadpool(identities.links, customer_id)
    return [_link_view(upstreams, link) for link in links if link.source in upstreams.names]


@router.put(
    "/admin/customers/{customer_id}/identifiers/{source}",
    summary="Link a source's identifier to a customer",
    description=(
        "Records in the unified index that the source knows the customer by this identifier (replacing the "
        "source's earlier one). The identifier is stored sealed. 409 `identifier-in-use` when it names another "
        "customer at that source."
    ),
    response_model=LinkView,
    tags=["admin"],
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def link_identifier(
    body: IdentifierLink,
    customers: CustomersDep,
    identities: IdentitiesDep,
    upstreams: UpstreamsDep,
    customer_id: str = CUSTOMER_ID,
    source: str = SOURCE,
    admin: ClientPrincipal = Depends(require_admin),
) -> dict[str, Any]:
    await run_in_threadpool(_known, customers, upstreams, customer_id, source)
    try:
        link = await run_in_threadpool(identities.link, customer_id, source, body.identifier, actor=admin.actor)
    except InvalidIdentifierError as exc:
        raise Problem(400, "invalid-identifier", str(exc)) from None
    except IdentifierInUseError as exc:
        raise Problem(409, "identifier-in-use", str(exc)) from None
    return _link_view(upstreams, link)


@router.delete(
    "/admin/customers/{customer_id}/identifiers/{source}",
    summary="Unlink a source from a customer",
    description="Removes the source's identifier from the unified index: profile reads no longer call that source "
    "for this customer. Admin clients only.",
    status_code=204,
    tags=["admin"],
    responses=problem_responses(401, 403, 404),
)
async def unlink_identifier(
    customers: CustomersDep,
    identities: IdentitiesDep,
    upstreams: UpstreamsDep,
    customer_id: str = CUSTOMER_ID,
    source: str = SOURCE,
    _admin: ClientPrincipal = Depends(require_admin),
) -> Response:
    await run_in_threadpool(_known, customers, upstreams, customer_id, source)
    if not await run_in_threadpool(identities.unlink, customer_id, source):
        raise Problem(404, "not-found", "The customer has no identifier at this source.")
    return Response(status_code=204)
