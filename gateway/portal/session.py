"""Who is looking at a portal page: the session cookie resolved to a customer, and the CSRF check for forms.

Pages never raise for an unauthenticated visitor; they redirect to the sign-in page (and say why when a
session has expired), because a browser user should land on a form, not on problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, NamedTuple
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from gateway.auth.customers import CustomerStore, SessionStore
from gateway.auth.principals import CustomerPrincipal
from gateway.dependencies import SESSION_COOKIE, CsrfKeyDep, CustomersDep, SessionsDep, SettingsDep
from gateway.portal.csrf import CSRF_COOKIE, CSRF_FIELD, CsrfGuard
from gateway.portal.web import PORTAL_PREFIX, Page, redirect, render

__all__ = ["SignedInForm", "Visit", "VisitDep", "open_signed_in_form", "open_visit"]


@dataclass
class Visit:
    """One request to the portal: the page context and, when signed in, the customer and session."""

    page: Page
    guard: CsrfGuard
    session: str | None
    expired: bool

    @property
    def customer(self) -> CustomerPrincipal | None:
        return self.page.customer

    def require_sign_in(self) -> Response:
        """Where an anonymous visitor goes instead: the sign-in form, then back here."""
        here = self.page.request.url.path
        notice = "&notice=expired" if self.expired else ""
        response = redirect(self.page, f"{PORTAL_PREFIX}/sign-in?next={quote(here, safe='/')}{notice}")
        if self.expired:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def form(self) -> FormData | None:
        """The submitted form if its CSRF token is this browser's and this session's, else None."""
        form = await self.page.request.form()
        submitted = form.get(CSRF_FIELD)
        cookie = self.page.request.cookies.get(CSRF_COOKIE)
        session = self.session if self.customer else None
        if not self.guard.valid(cookie, session, submitted if isinstance(submitted, str) else None):
            return None
        return form

    def csrf_failure(self) -> Response:
        return render(
            self.page, "error.html", status_code=403, title_key="error.csrf.title", body_key="error.csrf.body"
        )


async def open_visit(
    request: Request, sessions: SessionsDep, customers: CustomersDep, csrf_key: CsrfKeyDep, settings: SettingsDep
) -> Visit:
    """The dependency every portal page takes (as `VisitDep`): who is visiting, never an error."""
    session = request.cookies.get(SESSION_COOKIE)
    customer: CustomerPrincipal | None = None
    if session:
        customer = await run_in_threadpool(_resolve, sessions, customers, session)
    guard = CsrfGuard(csrf_key)
    page = Page.of(request, guard, session=session, customer=customer, secure_cookies=settings.secure_cookies)
    return Visit(page=page, guard=guard, session=session, expired=bool(session) and customer is None)


# The portal's own alias, beside the collaborators' in `gateway.dependencies`: that layer cannot know a Visit.
VisitDep = Annotated[Visit, Depends(open_visit)]


class SignedInForm(NamedTuple):
    """A form POST from a signed-in customer whose CSRF token checked out."""

    visit: Visit
    customer: CustomerPrincipal
    form: FormData


async def open_signed_in_form(visit: Visit) -> SignedInForm | Response:
    """The visit, customer and form of a signed-in form POST, or the answer instead: the sign-in redirect for an
    anonymous visitor (checked first, so an expired session lands on the form), else the CSRF failure page."""
    if visit.customer is None:
        return visit.require_sign_in()
    form = await visit.form()
    if form is None:
        return visit.csrf_failure()
    return SignedInForm(visit, visit.customer, form)


def _resolve(sessions: SessionStore, customers: CustomerStore, session: str) -> CustomerPrincipal | None:
    customer_id = sessions.resolve(session)
    return customers.get(customer_id) if customer_id else None
