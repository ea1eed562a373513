"""The customer's DID and the custody of its private key, as both ways in (the API and the portal) use them.

`POST /v1/me/did/custody` and the portal's "take custody" form must hand out the same key under the same rules
(once, with a ledger entry, only the caller's own), so both call these functions and differ only in how they
say the outcome: problem+json there, a page here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.custody import CustodyState, custody_state, release_custodial_key
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from ledger.store import Ledger

__all__ = ["ReleasedKey", "did_custody", "release_key"]


@dataclass(frozen=True)
class ReleasedKey:
    """The private key handed to the customer (an RFC 8037 JWK with `d`) and the ledger entry recording it."""

    jwk: dict[str, str]
    ledger_index: int


def did_custody(engine: Engine, customer: CustomerPrincipal) -> CustodyState:
    """Read from the store, not from the session's principal: the DID may have changed since sign-in."""
    return custody_state(engine, customer.customer_id)


def release_key(
    customers: CustomerStore, ledger: Ledger, pseudonyms: Pseudonyms, customer: CustomerPrincipal
) -> ReleasedKey:
    """Give the customer their DID's private key and delete the gateway's copy (one ledger transaction).

    A customer enrolled before DIDs were given at enrolment gets their custodial DID first, so the key handed
    out is always that of the DID their receipts name. Raises `NoCustodialKeyError` (a wallet DID),
    `KeyAlreadyReleasedError` (taken before) or `SealedKeyError` (the sealed copy does not open); in each case
    nothing is released and nothing is recorded.
    """
    if customer.did is None:
        customers.ensure_did(customer.customer_id)
    vault = customers.vault
    if vault is None:
        raise RuntimeError("the gateway's customer store is always built with the custody vault")
    jwk, index = release_custodial_key(
        ledger,
        vault,
        customer_id=customer.customer_id,
        actor=customer.actor,
        subject=pseudonyms(customer.customer_id),
    )
    return ReleasedKey(jwk=jwk, ledger_index=index)
