"""Who used my data: every recorded access (organization, purpose, categories released and withheld, time),
filtered by recipient, purpose and period, each linked to its ledger entry and inclusion proof; and every anonymous
statistic (differentially private aggregate) the customer's data counted in, with its privacy cost ε."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.dependencies import AccessLogDep, ContributionsDep
from gateway.portal.questions import question_sentence
from gateway.portal.session import VisitDep
from gateway.portal.web import render
from gateway.rights.access_log import DATA_SUBJECT, accesses
from gateway.rights.errors import CustomerRightsError

router = APIRouter()
_MOST = 1000


def _day(value: str | None) -> date | None:
    """A `YYYY-MM-DD` filter value, or None when empty or malformed (the filter is then not applied)."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/accesses")
async def who_used_my_data(
    visit: VisitDep, log: AccessLogDep, contributions: ContributionsDep, request: Request
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    taxonomy = log.taxonomy
    params = request.query_params
    recipient = params.get("recipient") or None
    purpose = params.get("purpose") or None
    if recipient not in (*taxonomy.recipients, DATA_SUBJECT):
        recipient = None
    if purpose not in taxonomy.purposes:
        purpose = None
    start, end = _day(params.get("from")), _day(params.get("to"))
    since = datetime.combine(start, time.min, UTC) if start else None
    until = datetime.combine(end, time.min, UTC) + timedelta(days=1) if end else None
    customer = visit.customer
    try:
        found = await run_in_threadpool(
            lambda: accesses(
                log,
                customer,
                recipient=recipient,
                purpose=purpose,
                since=since,
                until=until,
                limit=_MOST,
                lang=visit.page.language,
            )
        )
        invalid_period = False
    except CustomerRightsError:
        found, invalid_period = [], True
    analyses = [
        a
        for a in await run_in_threadpool(contributions.of_subject, log.pseudonyms(customer.customer_id), limit=_MOST)
        if (recipient is None or a.organization == recipient)
        and (purpose is None or a.purpose == purpose)
        and (since is None or a.created_at >= since)
        and (until is None or a.created_at < until)
    ]
    return render(
        visit.page,
        "accesses.html",
        analyses=analyses,
        question=partial(question_sentence, visit.page.messages),
        entries=list(reversed(found)),
        taxonomy=taxonomy,
        data_subject=DATA_SUBJECT,
        chosen={"recipient": recipient or "", "purpose": purpose or "", "from": start or "", "to": end or ""},
        filtered=any((recipient, purpose, start, end)),
        invalid_period=invalid_period,
    )
