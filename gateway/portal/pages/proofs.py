"""A ledger entry about the customer and its inclusion proof, as a page and as a JSON download."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import CheckpointsDep, ContributionsDep, LedgerDep, PseudonymsDep
from gateway.portal.proof import entry_proof
from gateway.portal.session import VisitDep
from gateway.portal.web import render, security_headers

router = APIRouter()


@router.get("/ledger/{index}")
async def ledger_entry(
    visit: VisitDep,
    ledger: LedgerDep,
    checkpoints: CheckpointsDep,
    pseudonyms: PseudonymsDep,
    contributions: ContributionsDep,
    index: int,
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    proof = await run_in_threadpool(entry_proof, ledger, checkpoints, pseudonyms, contributions, visit.customer, index)
    if proof is None:
        return render(visit.page, "error.html", 404, title_key="error.not_found.title", body_key="error.not_found.body")
    return render(visit.page, "ledger_entry.html", proof=proof)


@router.get("/ledger/{index}/proof.json")
async def ledger_proof_download(
    visit: VisitDep,
    ledger: LedgerDep,
    checkpoints: CheckpointsDep,
    pseudonyms: PseudonymsDep,
    contributions: ContributionsDep,
    index: int,
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    proof = await run_in_threadpool(entry_proof, ledger, checkpoints, pseudonyms, contributions, visit.customer, index)
    if proof is None:
        return security_headers(Response(status_code=404))
    body = json.dumps(proof.to_json(), ensure_ascii=False, indent=2, sort_keys=True)
    response = Response(body, media_type="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="consentry-ledger-{index}-proof.json"'
    return security_headers(response)
