""" "Who used my data": every access event about the customer, read back from the ledger.

Access events are ledger entries whose type starts with `access` and whose subject is the customer's pseudonym;
their payload names the `recipient` (a taxonomy recipient id, or `data-subject` for the customer's own export),
the `purpose`, the `upstream` read, and the categories `released` and `withheld` (a list, or a mapping from
category to reasons) — the shape `gateway.proxy.access` writes for the proxy.
Zero-knowledge predicate queries (`zk.query`) are accesses too, answered or refused: nothing raw is released,
and the entry says which attribute was asked about, with which predicate, and the yes/no given.
The event index finds them by subject, recipient, purpose and time; each answer carries its ledger index so
the customer (or an auditor) can ask for the inclusion proof.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.audit.event_index import EventIndex, EventQuery
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.principals import CustomerPrincipal
from gateway.rights.errors import InvalidConsentRequest
from gateway.zk.response import QUERY_EVENT
from ledger.store import Ledger
from policies import Taxonomy

ACCESS_EVENT_PREFIX = "access"
DATA_SUBJECT = "data-subject"
_PAGE = 500


def _categories(value: Any) -> dict[str, list[str]]:
    """Normalise `released`/`withheld` to {category: reasons}; anything else reads as nothing."""
    if isinstance(value, Mapping):
        return {
            str(k): [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else []) for k, v in value.items()
        }
    if isinstance(value, list):
        return {str(k): [] for k in value}
    return {}


@dataclass(frozen=True)
class AccessLog:
    """Where the access log is read from: the event index finds the entries, the ledger holds their payloads."""

    events: EventIndex
    ledger: Ledger
    taxonomy: Taxonomy
    pseudonyms: Pseudonyms


@dataclass(frozen=True)
class AccessEntry:
    ledger_index: int
    type: str
    time: datetime
    recipient: str | None
    organization: str | None
    purpose: str | None
    released: tuple[str, ...]
    withheld: Mapping[str, list[str]]
    source: str | None
    erased: bool
    predicate: Mapping[str, Any] | None = None
    department: str | None = None  # the department of the organization the read was declared for
    staff: str | None = None  # the staff member's pseudonymous id, when declared

    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger_index": self.ledger_index,
            "type": self.type,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "recipient": self.recipient,
            "organization": self.organization,
            "purpose": self.purpose,
            "released": list(self.released),
            "withheld": dict(self.withheld),
            "source": self.source,
            "erased": self.erased,
            "predicate": dict(self.predicate) if self.predicate is not None else None,
            "department": self.department,
            "staff": self.staff,
        }


def _department(tax: Taxonomy, recipient: str | None, department: Any, lang: str) -> str | None:
    """The department's name in `lang` when the taxonomy still lists it, else its id as recorded."""
    if not department:
        return None
    found = tax.recipients.get(recipient) if recipient is not None else None
    known = found.departments if found is not None else {}
    return known[department].get(lang) if department in known else str(department)


def _predicate(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a predicate query asked and what it was told (never the value: the gateway never released it)."""
    categories = body.get("categories")
    asked = categories.get("predicate") if isinstance(categories, Mapping) else None
    return {
        "attribute": body.get("attribute"),
        "category": asked[0] if isinstance(asked, list) and asked else None,
        "predicate": body.get("predicate"),
        "outcome": str(body.get("outcome") or "answered"),  # answers ledgered before they named their outcome
        "holds": body.get("holds"),
    }


def accesses(
    log: AccessLog,
    customer: CustomerPrincipal,
    *,
    recipient: str | None = None,
    purpose: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = -1,
    limit: int = 100,
    lang: str = "en",
) -> list[AccessEntry]:
    """The customer's access log in ledger order, after ledger index `after`, at most `limit` entries."""
    if not 1 <= limit <= 1000:
        raise InvalidConsentRequest("limit must be between 1 and 1000")
    if since is not None and until is not None and until <= since:
        raise InvalidConsentRequest("`until` must be later than `since`")
    tax = log.taxonomy
    subject = log.pseudonyms(customer.customer_id)
    found: list[AccessEntry] = []
    cursor = after
    while len(found) < limit:
        page = log.events.search(
            EventQuery(
                subject=subject,
                recipient=recipient,
                purpose=purpose,
                since=since,
                until=until,
                after=cursor,
                limit=_PAGE,
            )
        )
        for event in page:
            if not (event.type.startswith(ACCESS_EVENT_PREFIX) or event.type == QUERY_EVENT):
                continue
            payload = log.ledger.payload(event.index)
            body: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
            rid = event.recipient or (str(body["recipient"]) if "recipient" in body else None)
            if rid is not None and rid in tax.recipients:
                organization: str | None = tax.recipients[rid].name.get(lang)
            else:
                organization = str(body["organization"]) if body.get("organization") else rid
            released = _categories(body.get("released", body.get("released_categories")))
            found.append(
                AccessEntry(
                    ledger_index=event.index,
                    type=event.type,
                    time=event.time,
                    recipient=rid,
                    organization=organization,
                    purpose=event.purpose or (str(body["purpose"]) if "purpose" in body else None),
                    released=tuple(released),
                    withheld=_categories(body.get("withheld", body.get("withheld_categories"))),
                    source=str(body.get("upstream") or body.get("source") or "") or None,
                    erased=payload is None,
                    predicate=_predicate(body) if event.type == QUERY_EVENT and payload is not None else None,
                    department=_department(tax, rid, body.get("department"), lang),
                    staff=str(body["staff"]) if body.get("staff") else None,
                )
            )
            if len(found) == limit:
                break
        if len(page) < _PAGE:
            break
        cursor = page[-1].index
    return found
