"""GDPR Art. 20 / EU Data Act export: everything about the customer in one structured, machine-readable document.

Consents (state and history), receipts (the signed credentials with live status), the access log, value-for-data
points, and the customer's record from every registered source system. Each source read is itself an access to
the customer's data under the `data_portability` purpose, so it is appended to the ledger before the data goes
into the export (no ledger entry, no data) and shows up in "who used my data" with recipient `data-subject`.
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
from gateway.upstream import InvalidSubject, UpstreamFailure, UpstreamRegistry
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
    """One source system's record of the customer: mapped fields only, recorded in the ledger first."""
    if customer.source_subject is None:
        return {"status": "not_enrolled"}
    config = exporting.upstreams.config(name)
    everything = list(exporting.policies.taxonomy.categories)
    try:
        fetched = await exporting.upstreams.client(name).fetch_filtered(
            config.record_request(customer.source_subject), everything
        )
    except (UpstreamFailure, InvalidSubject) as exc:
        return {"status": "unavailable", "error": str(exc)}
    if fetched.result is None:
        return {"status": "no_record"}
    result = fetched.result
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
            "unmapped_withheld": len(result.unmapped),
        },
    )
    index = await exporting.ledger.append_async(event)
    return {
        "status": "exported",
        "ledger_index": index,
        "categories": list(result.released_categories),
        "unmapped_fields_left_out": len(result.unmapped),
        "data": result.document,
    }


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
