"""The bundled demo upstream: a "vehicle cloud" holding customer records, as a small Starlette app.

It stands in for a real source system in ``consentry demo``, the end-to-end tests and the proxy benchmark,
so it speaks plain HTTP and JSON like one: ``GET /customers/{id}`` returns a record, ``DELETE
/customers/{id}`` erases it (the target of forwarded erasure requests), ``PATCH /customers/{id}`` with a JSON
Merge Patch (RFC 7396) corrects it (the target of forwarded rectification requests), ``POST
/customers/{id}/deletions`` deletes the fields named by their JSON Pointers (retention: categories no purpose needs
any more; every request is kept in ``app.state.deletions``), and ``GET /export/vehicles?after=ID&limit=N`` pages
through every customer's vehicle model and mileage in customer order (the bulk resource aggregates read; the demo
fleet, `gateway.demo.fleet`, is served beside the five demo customers). Each app instance holds its own copy of the
demo records, so erasing in one test cannot affect another, and counts the requests it served (``app.state.hits``)
so tests can see how often the gateway called it.

Run it alone with ``python -m gateway.demo --port 8701``.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.demo.fleet import fleet_customers
from gateway.demo.statements import StatementSource, load_or_create_source_key

__all__ = ["DEMO_CUSTOMERS", "EXPORT_MAX_LIMIT", "PROBLEM_JSON", "HitCounter", "create_vehicle_cloud_app", "main"]

PROBLEM_JSON = "application/problem+json"

DEMO_CUSTOMERS: Mapping[str, Mapping[str, Any]] = {
    "cust-1001": {
        "name": "Li Wei",
        "phone": "+86 138 0013 8001",
        "email": "li.wei@example.cn",
        "national_id": "11010519900307451X",
        "birth_date": "1990-03-07",
        "annual_income": {"amount": 420000, "currency": "CNY"},
        "vehicle": {"vin": "LSVAU2180N2183294", "mileage_km": 38210, "fault_codes": ["P0301", "P0420"]},
        "location": {"lat": 31.230416, "lon": 121.473701, "city": "Shanghai", "recorded_at": "2026-11-20T08:15:00Z"},
        "driving": {
            "scores": {"overall": 82, "braking": 77, "speeding": 90, "cornering": 79},
            "trips": [
                {
                    "started_at": "2026-11-19T07:42:00Z",
                    "distance_km": 18.4,
                    "duration_min": 31,
                    "harsh_brakes": 1,
                    "start": {"lat": 31.2304, "lon": 121.4737},
                    "end": {"lat": 31.1443, "lon": 121.8083},
                },
                {
                    "started_at": "2026-11-19T18:05:00Z",
                    "distance_km": 17.9,
                    "duration_min": 44,
                    "harsh_brakes": 3,
                    "start": {"lat": 31.1443, "lon": 121.8083},
                    "end": {"lat": 31.2304, "lon": 121.4737},
                },
            ],
        },
        "telematics_unit": {"imei": "356938035643809", "firmware": "4.2.1"},
    },
    "cust-1002": {
        "name": "Anna Schmidt",
        "phone": "+49 151 2345 6789",
        "email": "anna.schmidt@example.de",
        "national_id": "T22000129",
        "birth_date": "1984-11-02",
        "annual_income": {"amount": 68000, "currency": "EUR"},
        "vehicle": {"vin": "WVWZZZ1KZAW000123", "mileage_km": 112040, "fault_codes": []},
        "location": {"lat": 52.520008, "lon": 13.404954, "city": "Berlin", "recorded_at": "2026-11-20T17:40:00Z"},
        "driving": {
            "scores": {"overall": 91, "braking": 93, "speeding": 88, "cornering": 92},
            "trips": [
                {
                    "started_at": "2026-11-20T16:55:00Z",
                    "distance_km": 12.1,
                    "duration_min": 27,
                    "harsh_brakes": 0,
                    "start": {"lat": 52.4862, "lon": 13.4245},
                    "end": {"lat": 52.5200, "lon": 13.4050},
                }
            ],
        },
        "telematics_unit": {"imei": "490154203237518", "firmware": "4.1.9"},
    },
    "cust-1003": {
        "name": "Zhang Min",
        "phone": "+86 139 1088 2003",
        "email": "zhang.min@example.cn",
        "national_id": "440305198812120027",
        "birth_date": "1988-12-12",
        "annual_income": {"amount": 960000, "currency": "CNY"},
        "vehicle": {"vin": "LFV2A21K7E4000789", "mileage_km": 5120, "fault_codes": ["U0100"]},
        "location": {"lat": 22.543096, "lon": 114.057865, "city": "Shenzhen", "recorded_at": "2026-11-21T02:10:00Z"},
        "driving": {"scores": {"overall": 74, "braking": 70, "speeding": 65, "cornering": 86}, "trips": []},
        "telematics_unit": {"imei": "357805023984942", "firmware": "4.2.1"},
    },
    "cust-1004": {
        "name": "Wang Xiaoming",
        "phone": "+86 137 0000 1004",
        "email": "xiaoming.wang@example.cn",
        "national_id": "310104201005150036",
        "birth_date": "2010-05-15",
        "annual_income": {"amount": 0, "currency": "CNY"},
        "vehicle": {"vin": "LSGBF53M8FS000456", "mileage_km": 64300, "fault_codes": ["P0171", "P0300", "C1201"]},
        "location": {"lat": 30.572815, "lon": 104.066801, "city": "Chengdu", "recorded_at": "2026-11-21T09:30:00Z"},
        "driving": {"scores": {"overall": 88, "braking": 85, "speeding": 92, "cornering": 87}, "trips": []},
        "telematics_unit": {"imei": "353918057329981", "firmware": "3.9.0"},
    },
    "cust-1005": {
        "name": "Emily Carter",
        "phone": "+1 415 555 0105",
        "email": "emily.carter@example.com",
        "national_id": "521-00-0105",
        "birth_date": "1992-08-21",
        "annual_income": {"amount": 128000, "currency": "USD"},
        "vehicle": {"vin": "5YJ3E1EA7KF000105", "mileage_km": 21480, "fault_codes": []},
        "location": {
            "lat": 37.774929,
            "lon": -122.419416,
            "city": "San Francisco",
            "recorded_at": "2026-11-21T18:05:00Z",
        },
        "driving": {"scores": {"overall": 85, "braking": 81, "speeding": 87, "cornering": 88}, "trips": []},
        "telematics_unit": {"imei": "356938035643809", "firmware": "4.2.1"},
    },
}


EXPORT_MAX_LIMIT = 10_000
_EXPORTED = ("model", "mileage_km")


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Bad Request", "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def _not_found(customer_id: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": f"no customer {customer_id!r}"},
        status_code=404,
        media_type=PROBLEM_JSON,
    )


class HitCounter:
    """Counts ``"METHOD /path"`` per request, so tests see retries and forwarded erasures as the server did."""

    def __init__(self, app: ASGIApp, hits: Counter[str]) -> None:
        self.app = app
        self.hits = hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.hits[f"{scope['method']} {scope['path']}"] += 1
        await self.app(scope, receive, send)


def _delete_pointer(record: dict[str, Any], pointer: str) -> bool:
    """Remove the member an RFC 6901 JSON Pointer names; other selector forms (JSONPath) are covered by their
    parents here. True when something was removed."""
    if not pointer.startswith("/"):
        return False
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    node: Any = record
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and parts[-1] in node:
        del node[parts[-1]]
        return True
    return False


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """RFC 7396: objects merge member by member, `null` removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _known(record: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Only fields the record already has may be corrected: a source system keeps its own schema."""
    return all(
        key in record
        and (not isinstance(value, Mapping) or (isinstance(record[key], Mapping) and _known(record[key], value)))
        for key, value in patch.items()
    )


def create_vehicle_cloud_app(
    customers: Mapping[str, Mapping[str, Any]] | None = None, *, source: StatementSource | None = None
) -> Starlette:
    """A fresh vehicle cloud holding its own deep copy of ``customers`` (default: the demo's people and fleet);
    with ``source`` it also signs statements, anchors them at the gateway and delivers them to wallets."""
    chosen = {**DEMO_CUSTOMERS, **fleet_customers()} if customers is None else customers
    store: dict[str, dict[str, Any]] = {cid: copy.deepcopy(dict(record)) for cid, record in chosen.items()}

    async def export_vehicles(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            return _problem(400, "limit must be an integer")
        if not 1 <= limit <= EXPORT_MAX_LIMIT:
            return _problem(400, f"limit must be between 1 and {EXPORT_MAX_LIMIT}")
        ids = sorted(store)
        start = bisect.bisect_right(ids, request.query_params["after"]) if "after" in request.query_params else 0
        page = ids[start : start + limit]
        items = []
        for cid in page:
            vehicle = store[cid].get("vehicle") or {}
            items.append({"subject": cid, "vehicle": {k: vehicle[k] for k in _EXPORTED if k in vehicle}})
        more = start + limit < len(ids)
        return JSONResponse({"items": items, "next": page[-1] if more and page else None})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def read_customer(request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        record = store.get(customer_id)
        return _not_found(customer_id) if record is None else JSONResponse(record)

    async def erase_customer(request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        if store.pop(customer_id, None) is None:
            return _not_found(customer_id)
        return Response(status_code=204)

    deletions: list[dict[str, Any]] = []

    async def delete_fields(request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "the body must be JSON")
        fields = body.get("fields") if isinstance(body, dict) else None
        categories = body.get("categories") if isinstance(body, dict) else None
        if (
            not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields)
            or not isinstance(categories, list)
        ):
            return _problem(400, "expected {categories: [...], fields: [JSON Pointer, ...]}")
        record = store.get(customer_id)
        if record is None:
            return _not_found(customer_id)
        deleted = [f for f in fields if _delete_pointer(record, f)]
        deletions.append({"customer_id": customer_id, "categories": categories, "fields": fields, "deleted": deleted})
        return JSONResponse({"deleted": deleted})

    async def correct_customer(request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        record = store.get(customer_id)
        if record is None:
            return _not_found(customer_id)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/merge-patch+json":
            return _problem(415, "send a JSON Merge Patch (application/merge-patch+json)")
        try:
            patch = json.loads(await request.body())
        except ValueError:
            return _problem(400, "the body is not JSON")
        if not isinstance(patch, dict) or not _known(record, patch):
            return _problem(422, "a correction may only change fields the record has")
        _merge(record, patch)
        return JSONResponse(record)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/customers/{customer_id}", read_customer, methods=["GET"]),
            Route("/customers/{customer_id}", erase_customer, methods=["DELETE"]),
            Route("/customers/{customer_id}/deletions", delete_fields, methods=["POST"]),
            Route("/customers/{customer_id}", correct_customer, methods=["PATCH"]),
            Route("/export/vehicles", export_vehicles, methods=["GET"]),
            *(source.routes(store) if source is not None else []),
        ]
    )
    hits: Counter[str] = Counter()
    app.state.hits = hits
    app.state.customers = store
    app.state.deletions = deletions
    app.state.source = source
    app.add_middleware(HitCounter, hits=hits)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the demo vehicle cloud in the foreground (for ``make demo`` and manual poking)."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m gateway.demo", description="The Consentry demo vehicle cloud (a demo upstream)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--source-key-file", type=Path, help="sign zero-knowledge statements with this key (0600)")
    parser.add_argument("--gateway", help="anchor signed statements at this gateway")
    parser.add_argument(
        "--gateway-ca", type=Path, help="trust an https gateway by this PEM certificate (the demo's self-signed one)"
    )
    args = parser.parse_args(argv)
    source = None
    if args.source_key_file is not None:
        signer, verifier = load_or_create_source_key(args.source_key_file)
        source = StatementSource(signer, verifier, args.gateway, args.gateway_ca)
    app = create_vehicle_cloud_app(source=source)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
