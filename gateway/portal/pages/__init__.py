"""The signed-in customer's pages, one module per page. Each handler opens the visit, sends anonymous
visitors to sign in, and reads only the customer's own records."""

from fastapi import APIRouter, Depends

from gateway.portal.gpc import honour_gpc
from gateway.portal.pages import accesses, account, consents, data, proofs, receipts, value

# A Global Privacy Control signal is honoured on every page, before the page reads what it shows.
router = APIRouter(dependencies=[Depends(honour_gpc)])
for page in (consents, accesses, receipts, data, value, account, proofs):
    router.include_router(page.router)

__all__ = ["router"]
