"""My consents: the matrix, giving and withdrawing per cell, row and column, the separate confirmation that
sensitive data (PIPL Art. 29) and transfers abroad (PIPL Art. 39) need, and "withdraw all marketing".

Every change goes through `gateway.rights.consents`, the same service the REST API uses, so the agreement version
check, the receipts and the ledger entries are identical whichever way the customer acts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, Literal, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import CredentialsDep, CustomersDep, PoliciesDep, RetentionDep, WebhooksDep
from gateway.portal.consent_matrix import RecipientMatrix, Scope, build_matrix
from gateway.portal.session import Visit, VisitDep, open_signed_in_form
from gateway.portal.web import PORTAL_PREFIX, redirect, render
from gateway.retention import renew, schedule
from gateway.rights import consents, guardians, objections, sale_opt_out
from gateway.rights.errors import CustomerRightsError
from policies import CellState, PolicyRuntime, RecordKind

router = APIRouter()

_PAGE = f"{PORTAL_PREFIX}/consents"
_DONE = frozenset({"given", "withdrawn", "marketing", "choices", "renewed", "objection", "restriction"})
_CHOICES = {"do_not_sell": RecordKind.OPT_OUT, "limit_sensitive": RecordKind.LIMIT_SENSITIVE}
_ERRORS = frozenset(
    {
        "invalid-consent",
        "separate-consent-required",
        "cross-border-consent-required",
        "notice-changed",
        "consent-state-conflict",
        "not-found",
        "invalid-request",
        "guardian-consent-required",
    }
)


def _view(
    policies: PolicyRuntime, customer: CustomerPrincipal, language: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    state = consents.consent_state(policies, customer)
    awaiting = consents.awaiting_decision(policies, customer, state, lang=language)
    return consents.catalog(policies, customer, lang=language), state, awaiting


class _Acting(NamedTuple):
    """Whose consents a page shows and changes: the visitor's own, or (`guardian` set) a minor in their care."""

    subject: CustomerPrincipal
    guardian: CustomerPrincipal | None

    @property
    def query(self) -> str:
        """What keeps the guardian on the minor's pages across links and redirects."""
        return f"ward={self.subject.customer_id}" if self.guardian is not None else ""


def _acting(customers: CustomerStore, visitor: CustomerPrincipal, ward: object) -> _Acting | None:
    """The visitor acting for themselves, or for the minor `ward` names if they are that minor's guardian
    (None when they are not: the page then says so without revealing whether the id exists)."""
    if not ward:
        return _Acting(visitor, None)
    try:
        return _Acting(guardians.ward(customers, visitor, str(ward)), visitor)
    except CustomerRightsError:
        return None


def _with(url: str, acting: _Acting, extra: str) -> str:
    joined = "&".join(p for p in (acting.query, extra) if p)
    return f"{url}?{joined}" if joined else url


@router.get("/consents")
async def my_consents(
    visit: VisitDep,
    policies: PoliciesDep,
    customers: CustomersDep,
    webhooks: WebhooksDep,
    retention: RetentionDep,
    request: Request,
) -> Response:
    if visit.customer is None:
        return visit.require_sign_in()
    acting = await run_in_threadpool(_acting, customers, visit.customer, request.query_params.get("ward"))
    if acting is None:
        return redirect(visit.page, f"{_PAGE}?error=not-found")
    subject = acting.subject
    catalog, state, awaiting = await run_in_threadpool(_view, policies, subject, visit.page.language)
    minor = guardians.is_minor(policies.taxonomy, subject)
    decides = await run_in_threadpool(guardians.who_decides, policies, customers, subject) if minor else None
    wards = [] if acting.guardian else await run_in_threadpool(guardians.wards, customers, visit.customer)
    choices = None if acting.guardian else await run_in_threadpool(sale_opt_out.choices, policies, subject)
    refusals = None if acting.guardian else await run_in_threadpool(objections.overview, policies, subject)
    # which recipients were told of the subject's changes, and which confirmed (only events with a recipient)
    told = await run_in_threadpool(webhooks.for_customer, subject.customer_id, lang=visit.page.language)
    # lapse dates and one-click renewal for the visitor's own consents (a guardian renews by giving again)
    lapses = [] if acting.guardian else await run_in_threadpool(schedule, retention, subject)
    matrices = build_matrix(catalog, state)
    done = request.query_params.get("done")
    error = request.query_params.get("error")
    count = request.query_params.get("count", "")
    return render(
        visit.page,
        "consents.html",
        catalog=catalog,
        matrices=matrices,
        legend=_legend(matrices),
        awaiting=awaiting,
        recipients={r["id"]: r for r in catalog["recipients"]},
        purposes={p["id"]: p for p in catalog["purposes"]},
        categories={c["id"]: c for c in catalog["categories"]},
        marketing_given=_marketing_given(catalog, state),
        done=done if done in _DONE else None,
        count=int(count) if count.isdigit() else 0,
        error=error if error in _ERRORS else None,
        scope_query=lambda scope: _with("", acting, _scope_query(scope)).lstrip("?"),
        ward=subject if acting.guardian else None,
        decided_by_guardian=minor and acting.guardian is None,
        decides=decides,
        wards=wards,
        choices=choices,
        refusals=refusals,
        gpc=request.headers.get(sale_opt_out.GPC_HEADER, "").strip() == "1",
        changes=[change for change in told if change["recipients"]],
        lapses=lapses,
        notice_days=retention.settings.retention_notice_days,
    )


def _legend(matrices: list[RecipientMatrix]) -> list[CellState]:
    """The states this page shows, explained, in the enum's order (the four everyone meets are always there)."""
    shown = {CellState.GIVEN, CellState.WITHDRAWN, CellState.NOT_ASKED, CellState.NOT_NEEDED}
    shown.update(CellState(cell.state) for matrix in matrices for cell in matrix.cells.values())
    return [state for state in CellState if state in shown]


def _marketing_given(catalog: dict[str, Any], state: dict[str, Any]) -> bool:
    marketing = {p["id"] for p in catalog["purposes"] if p["marketing"]}
    return any(
        record["kind"] == "consent" and record["status"] in ("given", "renewed") and marketing & set(record["purposes"])
        for record in state["records"]
    )


def _scope_query(scope: Scope) -> str:
    return urlencode(
        [("recipient", scope.recipient)]
        + [("purpose", purpose) for purpose in scope.purposes]
        + [("category", category) for category in scope.categories]
    )


def _requested_scope(policies: PolicyRuntime, customer: CustomerPrincipal, params: Any) -> Scope | None:
    """The scope named by a form or query, checked against the taxonomy (unknown names: None)."""
    taxonomy = policies.taxonomy
    recipient = str(params.get("recipient") or "")
    purposes = tuple(dict.fromkeys(str(p) for p in params.getlist("purpose")))
    categories = tuple(dict.fromkeys(str(c) for c in params.getlist("category")))
    if (
        recipient not in taxonomy.recipients
        or not purposes
        or not categories
        or any(p not in taxonomy.purposes for p in purposes)
        or any(c not in taxonomy.categories for c in categories)
    ):
        return None
    home = taxonomy.jurisdiction(customer.jurisdiction)
    abroad = taxonomy.recipients[recipient].jurisdiction != home.id
    sensitive = tuple(
        name
        for category in categories
        for name in (category, *(d.id for d in taxonomy.descendants(category)))
        if consents.sensitive_for(taxonomy, customer, name)
    )
    return Scope(
        recipient=recipient,
        purposes=purposes,
        categories=categories,
        sensitive=tuple(dict.fromkeys(sensitive)),
        cross_border=abroad and home.separate_consent_for_cross_border,
    )


@router.get("/consents/confirm")
async def confirm_form(visit: VisitDep, policies: PoliciesDep, customers: CustomersDep, request: Request) -> Response:
    """The separate, explicit confirmation: one checkbox per sensitive category, named, and one for abroad."""
    if visit.customer is None:
        return visit.require_sign_in()
    acting = await run_in_threadpool(_acting, customers, visit.customer, request.query_params.get("ward"))
    if acting is None:
        return redirect(visit.page, f"{_PAGE}?error=not-found")
    scope = _requested_scope(policies, acting.subject, request.query_params)
    if scope is None:
        return redirect(visit.page, _with(_PAGE, acting, "error=invalid-consent"))
    return await _render_confirm(policies, visit, acting, scope, missing=request.query_params.get("missing") == "1")


async def _render_confirm(
    policies: PolicyRuntime, visit: Visit, acting: _Acting, scope: Scope, *, missing: bool
) -> Response:
    catalog = await run_in_threadpool(consents.catalog, policies, acting.subject, lang=visit.page.language)
    return render(
        visit.page,
        "consent_confirm.html",
        status_code=422 if missing else 200,
        scope=scope,
        catalog=catalog,
        recipient=next(r for r in catalog["recipients"] if r["id"] == scope.recipient),
        purposes={p["id"]: p for p in catalog["purposes"]},
        categories={c["id"]: c for c in catalog["categories"]},
        missing=missing,
        ward=acting.subject if acting.guardian else None,
        tomorrow=(datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
    )


def _end_of(day: str) -> datetime | Literal[False] | None:
    """The end of a consent given "until" a date the customer chose: the end of that day (UTC); None when no date
    was chosen, False when the date is not one or has already ended."""
    if not day:
        return None
    try:
        chosen = date.fromisoformat(day)
    except ValueError:
        return False
    end = datetime.combine(chosen + timedelta(days=1), time.min, tzinfo=UTC)
    return end if end > datetime.now(UTC) else False


@router.post("/consents/grant")
async def give(
    visit: VisitDep, policies: PoliciesDep, credentials: CredentialsDep, customers: CustomersDep
) -> Response:
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, visitor, form = posted
    acting = await run_in_threadpool(_acting, customers, visitor, form.get("ward"))
    if acting is None:
        return redirect(visit.page, f"{_PAGE}?error=not-found")
    customer = acting.subject
    scope = _requested_scope(policies, customer, form)
    if scope is None:
        return redirect(visit.page, _with(_PAGE, acting, "error=invalid-consent"))
    confirmed = form.get("confirmation") == "1"
    until = _end_of(str(form.get("valid_until") or ""))
    if until is False:
        return redirect(visit.page, _with(_PAGE, acting, "error=invalid-consent"))
    separate = [str(c) for c in form.getlist("separate")]
    cross_border = form.get("cross_border") == "1"
    if scope.needs_confirmation and not confirmed:
        return redirect(visit.page, _with(f"{_PAGE}/confirm", acting, _scope_query(scope)))
    if confirmed and (set(scope.sensitive) - set(separate) or (scope.cross_border and not cross_border)):
        return await _render_confirm(policies, visit, acting, scope, missing=True)
    try:
        await run_in_threadpool(
            lambda: consents.grant(
                policies,
                credentials,
                customers,
                customer,
                purposes=scope.purposes,
                categories=scope.categories,
                recipients=(f"org:{scope.recipient}",),
                notice_version=str(form.get("notice_version") or ""),
                notice_sha256=str(form.get("notice_sha256") or ""),
                lang=visit.page.language,
                separate=separate,
                cross_border=cross_border,
                guardian=acting.guardian,
                valid_until=until,
            )
        )
    except CustomerRightsError as exc:
        return redirect(visit.page, _with(_PAGE, acting, f"error={exc.kind}"))
    return redirect(visit.page, _with(_PAGE, acting, "done=given") + f"#recipient-{scope.recipient}")


@router.post("/consents/withdraw")
async def withdraw(
    visit: VisitDep, policies: PoliciesDep, credentials: CredentialsDep, customers: CustomersDep
) -> Response:
    """Withdraw exactly the cells posted (a cell's, or every given cell of a row or column): each `cell` is
    `category|purpose` for the posted recipient; the records covering them are split and the rest stays given."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, visitor, form = posted
    acting = await run_in_threadpool(_acting, customers, visitor, form.get("ward"))
    if acting is None:
        return redirect(visit.page, f"{_PAGE}?error=not-found")
    recipient = str(form.get("recipient") or "")
    cells = []
    for value in dict.fromkeys(str(v) for v in form.getlist("cell")):
        category, _, purpose = value.partition("|")
        if not (category and purpose):
            return redirect(visit.page, _with(_PAGE, acting, "error=invalid-consent"))
        cells.append((category, purpose, recipient))
    if not cells or recipient not in policies.taxonomy.recipients:
        return redirect(visit.page, _with(_PAGE, acting, "error=invalid-consent"))
    try:
        await run_in_threadpool(
            partial(consents.withdraw_cells, guardian=acting.guardian),
            policies,
            credentials,
            customers,
            acting.subject,
            cells,
        )
    except CustomerRightsError as exc:
        return redirect(visit.page, _with(_PAGE, acting, f"error={exc.kind}"))
    return redirect(visit.page, _with(_PAGE, acting, f"done=withdrawn&count={len(cells)}") + f"#recipient-{recipient}")


@router.post("/consents/withdraw-marketing")
async def withdraw_marketing(
    visit: VisitDep, policies: PoliciesDep, credentials: CredentialsDep, customers: CustomersDep
) -> Response:
    """One click: every live consent covering a marketing purpose ends, each as its own ledger entry."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, visitor, form = posted
    acting = await run_in_threadpool(_acting, customers, visitor, form.get("ward"))
    if acting is None:
        return redirect(visit.page, f"{_PAGE}?error=not-found")
    result = await run_in_threadpool(
        lambda: consents.withdraw_all_marketing(policies, credentials, acting.subject, guardian=acting.guardian)
    )
    return redirect(visit.page, _with(_PAGE, acting, f"done=marketing&count={len(result.withdrawn)}"))


@router.post("/consents/privacy-choices")
async def privacy_choice(visit: VisitDep, policies: PoliciesDep) -> Response:
    """ "Do Not Sell or Share My Personal Information" and "Limit the Use of My Sensitive Personal Information",
    on or off: each a ledger entry the next proxied read obeys."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    kind = _CHOICES.get(str(form.get("choice") or ""))
    if kind is None:
        return redirect(visit.page, f"{_PAGE}?error=invalid-request")
    return await _switch(visit, form, partial(sale_opt_out.choose, policies, customer, kind), "choices#privacy-choices")


@router.post("/consents/renew")
async def renew_consent(visit: VisitDep, retention: RetentionDep) -> Response:
    """One click from the lapse notice: the consent's retention period starts again now."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    record_id = str(form.get("record_id") or "")
    if not record_id:
        return redirect(visit.page, f"{_PAGE}?error=invalid-consent")
    try:
        await run_in_threadpool(renew, retention, customer, record_id)
    except CustomerRightsError as exc:
        return redirect(visit.page, f"{_PAGE}?error={exc.kind}")
    return redirect(visit.page, f"{_PAGE}?done=renewed#retention-heading")


@router.post("/consents/objection")
async def objection(visit: VisitDep, policies: PoliciesDep) -> Response:
    """Object to a use resting on a legitimate or public interest (GDPR Art. 21), or withdraw the objection."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    change = partial(objections.object_to, policies, customer, str(form.get("purpose") or ""))
    return await _switch(visit, form, change, "objection#objections")


@router.post("/consents/restriction")
async def restriction(visit: VisitDep, policies: PoliciesDep) -> Response:
    """Restrict the processing of my data (GDPR Art. 18, PIPL Art. 44), or lift the restriction."""
    posted = await open_signed_in_form(visit)
    if isinstance(posted, Response):
        return posted
    visit, customer, form = posted
    return await _switch(visit, form, partial(objections.restrict, policies, customer), "restriction#objections")


async def _switch(visit: Visit, form: Any, change: Callable[[bool], object], done: str) -> Response:
    """The portal's on/off rights (privacy choices, objection, restriction): `on` is "1" or "0", anything else is
    refused before `change` runs; its refusal comes back as the page's error."""
    on = str(form.get("on") or "")
    if on not in ("0", "1"):
        return redirect(visit.page, f"{_PAGE}?error=invalid-request")
    try:
        await run_in_threadpool(change, on == "1")
    except CustomerRightsError as exc:
        return redirect(visit.page, f"{_PAGE}?error={exc.kind}")
    return redirect(visit.page, f"{_PAGE}?done={done}")
