"""My account: who the portal thinks you are, your DID, taking custody of its private key, and who answers
questions about you (your wallet, the default, or the gateway in custodial mode: `gateway.zk.custody`), and the
one-time code with which your wallet binds its DID to the account (`gateway.rights.wallet_binding`).

Taking custody is a confirm page and a CSRF-checked POST whose answer is the only place the key ever appears:
the JWK is in that page and in a `data:` download link inside it, so no URL can fetch it again, and the page
is not cached (`Cache-Control: no-store`, as every portal page). The release itself is the API's
(`gateway.rights.did_custody`): once, recorded in the ledger, the gateway's copy deleted in the same transaction.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gateway.auth.custody import KeyAlreadyReleasedError, NoCustodialKeyError, SealedKeyError
from gateway.auth.rate_limits import enforce
from gateway.dependencies import (
    CustomersDep,
    EngineDep,
    LedgerDep,
    LimitsDep,
    PseudonymsDep,
    SettingsDep,
    ZkRelayDep,
)
from gateway.portal.questions import asked_phrase
from gateway.portal.session import Visit, VisitDep, open_signed_in_form
from gateway.portal.web import PORTAL_PREFIX, redirect, render
from gateway.rights.did_custody import did_custody, release_key
from gateway.rights.wallet_binding import BindingCode, issue_binding_code
from gateway.web.problems import Problem
from gateway.zk import custody as zk_custody
from gateway.zk import relay as relaying
from gateway.zk.relay import Relay
from ledger.b64 import b64encode
from wallet.protocol import DeclineReason

router = APIRouter()

KEY_FILE_NAME = "consentry-did-key.jwk.json"


async def _account_page(
    engine: Engine,
    relay: Relay,
    visit: Visit,
    status_code: int = 200,
    notice: str | None = None,
    binding: BindingCode | None = None,
    gateway_url: str | None = None,
) -> Response:
    assert visit.customer is not None
    custody = await run_in_threadpool(did_custody, engine, visit.customer)
    if notice == "no-custodial-key" and custody.discarded:
        notice = "key-erased"
    answering = await run_in_threadpool(zk_custody.state, engine, visit.customer.customer_id)
    pending = await run_in_threadpool(relaying.pending_for, relay, visit.customer)
    catalog = visit.page.messages
    asked = [
        {
            "id": q.id,
            "recipient": q.recipient.name,
            "phrase": asked_phrase(catalog, q.question.template.attribute, q.question.template.predicate.to_json()),
            "purpose": q.question.purpose,
            "expires_at": q.question.expires_at,
        }
        for q in pending
    ]
    return render(
        visit.page,
        "account.html",
        status_code,
        customer=visit.customer,
        custody=custody,
        answering=answering,
        pending=asked,
        notice=notice,
        binding=binding,
        gateway_url=gateway_url,
    )


@router.get("/account")
async def account(visit: VisitDep, engine: EngineDep, relay: ZkRelayDep) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    return await _account_page(engine, relay, visit)


@router.get("/account/custody")
async def custody_confirm(visit: VisitDep, engine: EngineDep) -> Response:
    """What taking custody means, before anything happens; a key no longer held sends back to the account."""
    if visit.customer is None:
        return visit.require_sign_in()
    custody = await run_in_threadpool(did_custody, engine, visit.customer)
    if custody.did is not None and not custody.gateway_holds_key:
        return redirect(visit.page, f"{PORTAL_PREFIX}/account#did-heading")
    return render(visit.page, "custody_confirm.html", custody=custody)


def _data_uri(jwk: dict[str, str]) -> str:
    document = json.dumps(jwk, indent=2, sort_keys=True).encode()
    return "data:application/jwk+json;base64," + b64encode(document)


@router.post("/account/custody")
async def take_custody(
    visit: VisitDep,
    engine: EngineDep,
    relay: ZkRelayDep,
    customers: CustomersDep,
    ledger: LedgerDep,
    pseudonyms: PseudonymsDep,
) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    if form.get("understood") != "1":
        return redirect(visit.page, f"{PORTAL_PREFIX}/account/custody")
    try:
        released = await run_in_threadpool(release_key, customers, ledger, pseudonyms, customer)
    except KeyAlreadyReleasedError:
        return await _account_page(engine, relay, visit, 409, "already-released")
    except NoCustodialKeyError:
        return await _account_page(engine, relay, visit, 409, "no-custodial-key")
    except SealedKeyError:
        return render(visit.page, "error.html", 500, title_key="error.custody.title", body_key="error.custody.body")
    return render(
        visit.page,
        "custody_key.html",
        jwk=json.dumps(released.jwk, indent=2, sort_keys=True),
        download=_data_uri(released.jwk),
        file_name=KEY_FILE_NAME,
        ledger_index=released.ledger_index,
    )


@router.post("/account/wallet-binding-code")
async def wallet_binding_code(
    visit: VisitDep, engine: EngineDep, relay: ZkRelayDep, limits: LimitsDep, settings: SettingsDep
) -> Response:
    """A one-time code for `consentry wallet bind`, shown in this answer only (portal pages are not cached)."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, _ = posted
    try:
        enforce((limits.did_challenge_per_customer, customer.customer_id))
    except Problem:
        return await _account_page(engine, relay, visit, 429, "binding-code-limit")
    issued = await run_in_threadpool(issue_binding_code, engine, customer.customer_id)
    return await _account_page(engine, relay, visit, binding=issued, gateway_url=settings.issuer)


@router.post("/account/answering")
async def switch_answering(visit: VisitDep, engine: EngineDep, relay: ZkRelayDep) -> Response:
    """The custodial switch: on, the gateway answers by the rules the wallet hands over; off deletes its copies."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    if form.get("mode") not in ("custodial", "wallet"):
        return redirect(visit.page, f"{PORTAL_PREFIX}/account#answering-heading")
    try:
        await run_in_threadpool(zk_custody.switch, relay, customer, form.get("mode") == "custodial")
    except Problem:
        return await _account_page(engine, relay, visit, 503, "answering-unavailable")
    return redirect(visit.page, f"{PORTAL_PREFIX}/account#answering-heading")


@router.post("/account/questions/{question_id}/{verb}")
async def reply_to_question(
    question_id: str, verb: str, visit: VisitDep, engine: EngineDep, relay: ZkRelayDep
) -> Response:
    """The customer declines a pending question, or (custodial mode only) approves this one answer."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, _ = posted
    try:
        if verb == "decline":
            await run_in_threadpool(relaying.decline, relay, customer, question_id, DeclineReason.BY_CUSTOMER)
        elif verb == "answer":
            await run_in_threadpool(zk_custody.answer_once, relay, customer, question_id)
        else:
            return redirect(visit.page, f"{PORTAL_PREFIX}/account#answering-heading")
    except Problem as problem:
        notice = "question-closed" if problem.status in (404, 409) else "answering-unavailable"
        return await _account_page(engine, relay, visit, 409 if notice == "question-closed" else 503, notice)
    return redirect(visit.page, f"{PORTAL_PREFIX}/account#answering-heading")
