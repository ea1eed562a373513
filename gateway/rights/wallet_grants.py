"""Temporary access granted from the customer's wallet: a grant the customer signed with their DID key
(recipient × categories × purpose × end time) becomes a consent with that end time, in the ledger, with a
receipt issued to the same DID. Nothing has to happen when it ends: the decision engine counts a consent only
before its `valid_until`, so the grant lapses on its own.

The customer signed the grant naming the recipient, each category and the purpose, so it is a separate consent
for every sensitive category it names and, for a recipient abroad, the separate consent to that transfer
(PIPL Arts. 29 and 39): the signature is the customer's own act of consent, given in the wallet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from credentials import AccessGrantError, CredentialService, verify_access_grant
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.rights import consents
from gateway.rights.errors import GrantRejected, InvalidConsentRequest, NotYourGrant
from policies import PolicyRuntime


def record_grant(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customers: CustomerStore,
    customer: CustomerPrincipal,
    document: Mapping[str, Any],
    *,
    now: datetime,
    lang: str = "en",
) -> dict[str, Any]:
    """Verify the grant, record it as a consent ending at its `validUntil`, and return the consent, its ledger
    index and the receipt (issued to the grantor's DID)."""
    try:
        grant = verify_access_grant(document, now=now)
    except AccessGrantError as exc:
        raise GrantRejected(exc.rule, str(exc)) from exc
    if customer.did is None or grant.grantor != customer.did:
        raise NotYourGrant("The grant is signed by another DID than the wallet you signed in with.")
    kind, _, name = grant.recipient.partition(":")
    if kind != "org" or name not in policies.taxonomy.recipients:
        raise InvalidConsentRequest(f"The grant's recipient {grant.recipient!r} is not a known org:<id>.")
    agreement = consents.current_agreement(policies, customer.jurisdiction, lang, customer.customer_type)
    change = consents.grant(
        policies,
        credentials,
        customers,
        customer,
        purposes=[grant.purpose],
        categories=list(grant.categories),
        recipients=[grant.recipient],
        notice_version=agreement.version,
        notice_sha256=agreement.sha256,
        lang=lang,
        separate=list(grant.categories),
        cross_border=True,
        valid_until=grant.valid_until,
        method="wallet",
    )
    return {
        "grant_id": grant.id,
        **change.to_dict(),
        "ledger_index": change.record.ledger_index,
        "receipt": change.receipt,
    }
