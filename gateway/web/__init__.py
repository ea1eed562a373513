"""HTTP plumbing every route shares: RFC 9457 problem details, `Idempotency-Key` replay, the body size
limit, JSON body parsing, request context and metrics, and the proxy's direct (FastAPI-free) routes.

Nothing here knows about consents, customers or the ledger's meaning; the wings above raise `Problem`s and
this layer turns them into responses.
"""
