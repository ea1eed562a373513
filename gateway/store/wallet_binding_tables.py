"""One-time codes with which a signed-in customer lets a wallet bind its DID to their account.

Only the code's SHA-256 is kept, with the customer it was shown to and its expiry; binding deletes the row in
the same transaction as the ledger entry, so a code binds one wallet at most.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, LargeBinary, String, Table

from gateway.store.tables import metadata

wallet_binding_codes = Table(
    "gw_wallet_binding_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
