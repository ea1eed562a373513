"""The export as a zip of CSV tables: one file per table, UTF-8, and every column documented in `README.txt`.

The same document as the JSON export (`portability.export`), laid out for a spreadsheet or another service's
importer, with no format barrier (EU Data Act Art. 4-5): a cell holding a list or an object is that value as
JSON, an absent value is empty. Each source system's record becomes one row per field (JSON Pointer, data
category or empty when no category names it, value), so unmapped fields such as a telematics unit's IMEI are
there too. `TABLES` is the documentation: the writer emits exactly these columns, in this order.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gateway.upstream import format_pointer

__all__ = ["TABLES", "export_zip", "table_rows"]

# file -> (what a row is, [(column, meaning)])
TABLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "customer.csv": (
        "you, as the gateway knows you (one row)",
        [
            ("customer_id", "your account id at the gateway"),
            ("username", "your sign-in name"),
            ("display_name", "the name shown to you"),
            ("jurisdiction", "the law that applies to you (CN, EU, DE, US-CA)"),
            ("customer_type", "standard, vip, minor or enterprise_contact"),
            ("did", "your decentralized identifier (did:key), which your receipts name"),
        ],
    ),
    "consents.csv": (
        "one consent (or objection or opt-out) record, with its current status",
        [
            ("record_id", "the record's id"),
            ("kind", "consent, objection or opt_out"),
            ("status", "given, renewed, withdrawn, expired, ..."),
            ("purposes", "purposes covered (JSON list)"),
            ("categories", "data categories covered (JSON list)"),
            ("recipients", "who may receive the data (JSON list)"),
            ("jurisdiction", "the law it was given under"),
            ("legal_basis", "consent, contract, legitimate_interest, ..."),
            ("notice", "the agreement version and SHA-256 you were shown (JSON)"),
            ("separate", "sensitive categories you confirmed separately (JSON list)"),
            ("cross_border", "whether you consented to a transfer abroad"),
            ("given_by", "who gave it: you, or your guardian"),
            ("valid_from", "when it took effect (RFC 3339, UTC)"),
            ("valid_until", "when it expires (RFC 3339, UTC), empty if it does not"),
            ("updated_at", "its last change (RFC 3339, UTC)"),
            ("ledger_index", "the ledger entry of its last change"),
        ],
    ),
    "consent_history.csv": (
        "one change of a consent record, oldest first",
        [
            ("record_id", "the record that changed"),
            ("seq", "the change's number within the record"),
            ("status", "the status after the change"),
            ("time", "when (RFC 3339, UTC)"),
            ("actor", "who made the change"),
            ("ledger_index", "the ledger entry recording it"),
            ("purposes", "purposes covered (JSON list)"),
            ("categories", "data categories covered (JSON list)"),
            ("recipients", "who may receive the data (JSON list)"),
            ("notice_version", "the agreement version shown, if any"),
        ],
    ),
    "receipts.csv": (
        "one consent receipt (a W3C verifiable credential signed by the gateway)",
        [
            ("receipt_id", "the credential's id"),
            ("record_id", "the consent record it attests"),
            ("status", "valid, revoked or expired (live, from the published status list)"),
            ("issued_at", "when it was issued (RFC 3339, UTC)"),
            ("ledger_index", "the ledger entry of the consent"),
            ("revoked_at", "when it was revoked, empty if it was not"),
            ("purposes", "purposes attested (JSON list)"),
            ("categories", "data categories attested (JSON list)"),
            ("valid_until", "when it expires, empty if it does not"),
            ("credential", "the signed credential itself (JSON), verifiable offline"),
        ],
    ),
    "accesses.csv": (
        "one recorded use of your data (who used my data), oldest first",
        [
            ("ledger_index", "the ledger entry recording it (its proof is at /portal/ledger/{index})"),
            ("type", "access, access.portability, zk.query, ..."),
            ("time", "when (RFC 3339, UTC)"),
            ("recipient", "the client that read, or data-subject for your own export"),
            ("organization", "the organization behind the client"),
            ("purpose", "the purpose declared for the read"),
            ("released", "data categories released (JSON list)"),
            ("withheld", "data categories withheld, with the reasons (JSON object)"),
            ("source", "the source system read"),
            ("erased", "true when the entry's details were erased at your request"),
            ("predicate", "for a zero-knowledge question: what was asked and answered (JSON), else empty"),
            ("department", "the department of the organization the read was declared for, if any"),
            ("staff", "the pseudonymous id of the staff member the read was declared for, if any"),
        ],
    ),
    "points.csv": (
        "one value-for-data points accrual",
        [
            ("ledger_index", "the ledger entry of the use that earned it"),
            ("purpose", "the purpose of that use"),
            ("recipient", "who used your data"),
            ("points", "points earned"),
            ("time", "when (RFC 3339, UTC)"),
        ],
    ),
    "sources.csv": (
        "one source system asked for your record",
        [
            ("source", "the source system's name"),
            ("status", "exported, no_record, not_enrolled or unavailable"),
            ("ledger_index", "the ledger entry recording that your record was read for this export"),
            ("error", "why the source could not be read, if it could not"),
            ("categories", "the data categories your record there holds (JSON list)"),
            ("unmapped_fields", "fields no data category names (JSON list of JSON Pointers); exported all the same"),
        ],
    ),
    "source_fields.csv": (
        "one field of your record at a source system, mapped to a data category or not",
        [
            ("source", "the source system's name"),
            ("field", "where the field is in the record (JSON Pointer, RFC 6901)"),
            ("category", "the data categories the gateway files it under, space-separated; empty when none does"),
            ("value", "the value (text; numbers and booleans as JSON)"),
        ],
    ),
}


# A source's record and each field's categories are rows of source_fields.csv rather than cells of sources.csv.
_IN_SOURCE_FIELDS = frozenset({"data", "field_categories"})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _leaves(child, (*path, str(key)))
    elif isinstance(value, list) and value:
        for position, child in enumerate(value):
            yield from _leaves(child, (*path, position))
    else:
        yield path, value


def _source_fields(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, source in document["sources"].items():
        if source.get("status") != "exported":
            continue
        categories = source.get("field_categories") or {}
        for path, value in _leaves(source["data"]):
            pointer = format_pointer(path)
            named = categories.get(pointer, [])
            rows.append({"source": name, "field": pointer, "category": " ".join(named), "value": value})
    return rows


def table_rows(document: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The rows of every table, as dictionaries keyed by the documented columns (extra keys are not written)."""
    return {
        "customer.csv": [document["customer"]],
        "consents.csv": list(document["consents"]["records"]),
        "consent_history.csv": list(document["consent_history"]),
        "receipts.csv": list(document["receipts"]),
        "accesses.csv": list(document["accesses"]),
        "points.csv": list(document["points"]["accruals"]),
        "sources.csv": [
            {"source": name, **{k: v for k, v in status.items() if k not in _IN_SOURCE_FIELDS}}
            for name, status in document["sources"].items()
        ],
        "source_fields.csv": _source_fields(document),
    }


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def _readme(document: Mapping[str, Any]) -> str:
    lines = [
        "Consentry data export (CSV). Every file is UTF-8 CSV (RFC 4180) with a header row.",
        "A cell holding a list or an object is that value as JSON; an empty cell is an absent value.",
        f"Format: {document['format']}. Made: {document['generated_at']}.",
        "",
        str(document["summary"]),
        "",
    ]
    for name, (row, columns) in TABLES.items():
        lines.append(f"{name}: {row}")
        lines.extend(f"  {column}: {meaning}" for column, meaning in columns)
        lines.append("")
    return "\n".join(lines)


def export_zip(document: Mapping[str, Any]) -> bytes:
    """The zip: README.txt (the columns, and the export's summary) and one CSV per table."""
    rows = table_rows(document)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(document).encode("utf-8"))
        for name, (_, columns) in TABLES.items():
            archive.writestr(name, _csv([c for c, _ in columns], rows[name]))
    return buffer.getvalue()
