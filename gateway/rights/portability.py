"""GDPR Art. 20 / EU Data Act export: everything about the customer in one structured, machine-readable document.

Consents (state and history), receipts (the signed credentials with live status), the access log, value-for-data
points, and the customer's whole record from every registered source system, fields no data category names
included. As JSON (`export`) or as a zip of CSV tables with documented columns (`rights.export_csv`). Each source
read is itself an access to the customer's data under the `data_portability` purpose, so it is appended to the
ledger before the data goes into the export (no ledger entry, no data) and shows up in "who used my data" with
recipient `data-subject`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from credentials import CredentialService
from gateway.audit.pseudonyms import Pseudonyms
from gateway.auth.principals import CustomerPrincipal
from gateway.rights import consents
from gateway.rights.access_log import DATA_SUBJECT, AccessLog, accesses
from gateway.rights.points import points_balance, points_history
from gateway.rights.receipts import get_receipt, list_receipts
from gateway.upstream import (
    FieldMap,
    InvalidDocument,
    InvalidSubject,
    UpstreamError,
    UpstreamFailure,
    UpstreamRegistry,
    filter_document,
    format_pointer,
)
from ledger import Event
from ledger.store import Ledger
from policies import PolicyRuntime

PORTABILITY_PURPOSE = "data_portability"
PORTABILITY_EVENT = "access.portability"
FORMAT = "https://consentry.dev/formats/customer-export/v1"

_SUMMARY = {
    "en": (
        "Export for {name}, made {time}.\n"
        "Consent records: {records} ({live} currently given); consent events: {events}.\n"
        "Consent receipts: {receipts} ({valid} valid, {revoked} revoked).\n"
        "Recorded accesses to your data: {accesses}.\n"
        "Value-for-data points: {points}.\n"
        "Source systems: {sources}."
    ),
    "zh-CN": (
        "{name} 的数据导出，生成于 {time}。\n"
        "同意记录：{records} 条（当前有效 {live} 条）；同意事件：{events} 条。\n"
        "同意凭证：{receipts} 份（有效 {valid} 份，已撤销 {revoked} 份）。\n"
        "您的数据被访问记录：{accesses} 条。\n"
        "数据价值积分：{points}。\n"
        "来源系统：{sources}。"
    ),
}


@dataclass(frozen=True)
class Portability:
    """What an export reads: consents, receipts, the access log, points, and every source system's record."""

    policies: PolicyRuntime
    credentials: CredentialService
    engine: Engine
    upstreams: UpstreamRegistry
    ledger: Ledger
    pseudonyms: Pseudonyms
    access_log: AccessLog


def _all_accesses(log: AccessLog, customer: CustomerPrincipal, lang: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = -1
    while True:
        page = accesses(log, customer, after=after, limit=1000, lang=lang)
        found.extend(a.to_dict() for a in page)
        if len(page) < 1000:
            return found
        after = page[-1].ledger_index


def _local_part(exporting: Portability, customer: CustomerPrincipal, lang: str) -> dict[str, Any]:
    state = consents.consent_state(exporting.policies, customer)
    summaries = list_receipts(exporting.engine, exporting.credentials, customer)
    return {
        "consents": state,
        "consent_history": consents.history(exporting.policies, customer),
        "receipts": [
            {**r.to_dict(), "credential": get_receipt(exporting.engine, customer, r.receipt_id)} for r in summaries
        ],
        "accesses": _all_accesses(exporting.access_log, customer, lang),
        "points": {
            "balance": points_balance(exporting.engine, customer.customer_id),
            "accruals": [
                {
                    "ledger_index": p.ledger_index,
                    "purpose": p.purpose,
                    "recipient": p.recipient,
                    "points": p.points,
                    "time": p.time.isoformat(),
                }
                for p in points_history(exporting.engine, customer.customer_id, limit=10_000)
            ],
        },
    }


async def _source(exporting: Portability, customer: CustomerPrincipal, name: str) -> dict[str, Any]:
    """One source system's whole record of the customer, recorded in the ledger first.

    Every field goes in, mapped to a data category or not: a telematics unit's IMEI that no category names is
    withheld from every recipient, but it is still the customer's data (GDPR Art. 20, EU Data Act Art. 4). The
    mapping is applied only to say which categories the record holds and which fields no category names.
    """
    if customer.source_subject is None:
        return {"status": "not_enrolled"}
    config = exporting.upstreams.config(name)
    everything = list(exporting.policies.taxonomy.categories)
    try:
        response = await exporting.upstreams.client(name).fetch_record(customer.source_subject)
        if response.status_code in (404, 410):
            return {"status": "no_record"}
        if response.status_code >= 400:
            raise UpstreamError(name, response.status_code)
        document = response.json()
        result = filter_document(document, config.field_map, everything)
    except (UpstreamFailure, InvalidSubject) as exc:
        return {"status": "unavailable", "error": str(exc)}
    except InvalidDocument as exc:
        return {"status": "unavailable", "error": f"upstream {name!r}: {exc}"}
    event = Event(
        type=PORTABILITY_EVENT,
        actor=customer.actor,
        subject=exporting.pseudonyms(customer.customer_id),
        payload={
            "recipient": DATA_SUBJECT,
            "purpose": PORTABILITY_PURPOSE,
            "upstream": name,
            "released": list(result.released_categories),
            "withheld": {},
            "unmapped_released": len(result.unmapped),
        },
    )
    index = await exporting.ledger.append_async(event)
    return {
        "status": "exported",
        "ledger_index": index,
        "categories": list(result.released_categories),
        "unmapped_fields": list(result.unmapped),
        "field_categories": _field_categories(document, config.field_map, everything),
        "data": document,
    }


def _pointers(value: Any, path: tuple[str | int, ...] = ()) -> set[str]:
    if isinstance(value, dict) and value:
        return set().union(*(_pointers(child, (*path, str(key))) for key, child in value.items()))
    if isinstance(value, list) and value:
        return set().union(*(_pointers(child, (*path, i)) for i, child in enumerate(value)))
    return {format_pointer(path)}


def _field_categories(document: Any, field_map: FieldMap, everything: list[str]) -> dict[str, list[str]]:
    """Each mapped field's data categories (JSON Pointer -> categories): a field needs every category whose
    absence drops it, since deny wins (a trip's end point is both driving behaviour and a precise location)."""
    released = filter_document(document, field_map, everything).document
    mapped = _pointers(released) if released is not None else set()
    found: dict[str, list[str]] = {pointer: [] for pointer in sorted(mapped)}
    for category in sorted(field_map.categories):
        without = filter_document(document, field_map, [c for c in everything if c != category]).document
        for pointer in mapped - (_pointers(without) if without is not None else set()):
            found[pointer].append(category)
    return found


async def export(exporting: Portability, customer: CustomerPrincipal, *, lang: str = "en") -> dict[str, Any]:
    """The whole export as one JSON-ready document, with a human-readable summary in `lang`."""
    if lang not in _SUMMARY:
        lang = "en"
    now = datetime.now(UTC)
    sources = {name: await _source(exporting, customer, name) for name in exporting.upstreams.names}
    local = await run_in_threadpool(_local_part, exporting, customer, lang)
    receipts = local["receipts"]
    records = local["consents"]["records"]
    summary = _SUMMARY[lang].format(
        name=customer.display_name,
        time=now.isoformat(timespec="seconds"),
        records=len(records),
        live=sum(1 for r in records if r["status"] in ("given", "renewed")),
        events=len(local["consent_history"]),
        receipts=len(receipts),
        valid=sum(1 for r in receipts if r["status"] == "valid"),
        revoked=sum(1 for r in receipts if r["status"] == "revoked"),
        accesses=len(local["accesses"]),
        points=local["points"]["balance"],
        sources=", ".join(f"{n} ({s['status']})" for n, s in sources.items()) or "-",
    )
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "summary": summary,
        "customer": {
            "customer_id": customer.customer_id,
            "username": customer.username,
            "display_name": customer.display_name,
            "jurisdiction": customer.jurisdiction,
            "customer_type": customer.customer_type,
            "did": customer.did,
        },
        **local,
        "sources": sources,
    }
