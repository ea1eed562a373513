"""The signed-in customer's pages, one module per page. Each handler opens the visit, sends anonymous
visitors to sign in, and reads only the customer's own records."""

from fastapi import APIRouter

from gateway.portal.pages import accesses, account, consents, data, proofs, receipts, value

router = APIRouter()
for page in (consents, accesses, receipts, data, value, account, proofs):
    router.include_router(page.router)

__all__ = ["router"]
