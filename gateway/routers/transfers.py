"""The recipient's side of a direct transfer: fetch, once, the export a customer granted to its organization."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import TransfersDep, require_client
from gateway.rights import CustomerRightsError, portability, transfers
from gateway.routers.my_data import export_response
from gateway.web.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/transfers", tags=["direct transfer"])


@router.get(
    "/{grant_id}",
    summary="Fetch a customer's export (once)",
    description="For the client of the organization the customer named: the export (JSON, or the CSV zip) the "
    "grant covers. The fetch is recorded in the ledger and shown to the customer; the grant is then used up, "
    "so a second fetch answers 410, as does one after the time limit. A grant for another organization is 404.",
    responses={
        200: {
            "description": "The export: the customer's JSON document, or the zip of CSV tables if they chose CSV",
            "content": {
                "application/json": {"example": {"format": portability.FORMAT, "summary": "Export for Li Wei, …"}},
                "application/zip": {"example": "(a zip: README.txt, customer.csv, consents.csv, …)"},
            },
        },
        **problem_responses(401, 403, 404, 410),
    },
)
async def fetch_transfer(
    moving: TransfersDep,
    grant_id: str = Path(max_length=100, examples=["7d0c9a5e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"]),
    client: ClientPrincipal = Depends(require_client(scopes=["proxy"])),
) -> Response:
    try:
        fmt, export = await transfers.fetch_transfer(moving, client, grant_id)
    except CustomerRightsError as exc:
        raise Problem(exc.status_code, exc.kind, exc.message) from exc
    return export_response(export, fmt)
