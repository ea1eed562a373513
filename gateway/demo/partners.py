"""The demo's other source systems: a billing/loyalty system and a third-party insurer, as small Starlette apps.

They stand beside the vehicle cloud (`gateway.demo.vehicle_cloud`) so the demo is a federation: each holds part
of a customer's data and names the customer its own way — billing by account number (`GET /accounts/{number}`),
the insurer by policy number (`GET /policies/{number}`). Neither knows the gateway's customer number; the gateway's
unified index (`gateway.auth.identity_index`) links them. Each app holds its own copy of its records, erases on
`DELETE`, and counts what it served (`app.state.hits`).

Run one alone with ``python -m gateway.demo.partners --system billing --port 8702``.
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.demo.vehicle_cloud import PROBLEM_JSON, HitCounter

__all__ = [
    "BILLING_ACCOUNTS",
    "DEMO_LINKS",
    "INSURER_POLICIES",
    "SYSTEMS",
    "create_billing_app",
    "create_insurer_app",
    "main",
]

# Which identifier each demo source uses for each demo customer (the vehicle cloud's is the customer number).
DEMO_LINKS: Mapping[str, Mapping[str, str]] = {
    "cust-1001": {"vehicle-cloud": "cust-1001", "billing": "ACC-880101", "insurer": "POL-CN-2024-55101"},
    "cust-1002": {"vehicle-cloud": "cust-1002", "billing": "ACC-880102", "insurer": "POL-DE-2023-70122"},
    "cust-1003": {"vehicle-cloud": "cust-1003", "billing": "ACC-880103"},
    "cust-1004": {"vehicle-cloud": "cust-1004"},
    "cust-1005": {"vehicle-cloud": "cust-1005"},
}

BILLING_ACCOUNTS: Mapping[str, Mapping[str, Any]] = {
    "ACC-880101": {
        "account_number": "ACC-880101",
        "holder": {"name": "Li Wei", "email": "li.wei@example.cn"},
        "billing_city": "Shanghai",
        "loyalty": {"tier": "gold", "points": 12840, "member_since": "2019-05-01"},
        "purchases": [
            {"date": "2026-10-02", "item": "Brake service", "amount": 1280},
            {"date": "2026-11-14", "item": "Winter tyres", "amount": 3960},
        ],
        "payment": {"card_last4": "4417", "card_brand": "UnionPay"},
        "credit_score_internal": 712,
    },
    "ACC-880102": {
        "account_number": "ACC-880102",
        "holder": {"name": "Anna Schmidt", "email": "anna.schmidt@example.de"},
        "billing_city": "Berlin",
        "loyalty": {"tier": "silver", "points": 3120, "member_since": "2022-02-11"},
        "purchases": [{"date": "2026-09-20", "item": "Inspection", "amount": 289}],
        "payment": {"card_last4": "0931", "card_brand": "Visa"},
        "credit_score_internal": 655,
    },
    "ACC-880103": {
        "account_number": "ACC-880103",
        "holder": {"name": "Zhang Min", "email": "zhang.min@example.cn"},
        "billing_city": "Shenzhen",
        "loyalty": {"tier": "platinum", "points": 48210, "member_since": "2016-08-30"},
        "purchases": [],
        "payment": {"card_last4": "7702", "card_brand": "UnionPay"},
        "credit_score_internal": 801,
    },
}

INSURER_POLICIES: Mapping[str, Mapping[str, Any]] = {
    "POL-CN-2024-55101": {
        "policy_number": "POL-CN-2024-55101",
        "policyholder": {"name": "Li Wei", "birth_date": "1990-03-07", "phone": "+86 138 0013 8001"},
        "vehicle": {"vin": "LSVAU2180N2183294"},
        "coverage": {"product": "Comprehensive", "premium": {"amount": 5400, "currency": "CNY"}},
        "claims": [{"date": "2025-12-03", "kind": "windscreen", "paid": 1800}],
        "risk_score": 0.23,
    },
    "POL-DE-2023-70122": {
        "policy_number": "POL-DE-2023-70122",
        "policyholder": {"name": "Anna Schmidt", "birth_date": "1984-11-02", "phone": "+49 151 2345 6789"},
        "vehicle": {"vin": "WVWZZZ1KZAW000123"},
        "coverage": {"product": "Third party", "premium": {"amount": 610, "currency": "EUR"}},
        "claims": [],
        "risk_score": 0.11,
    },
}


def _not_found(kind: str, number: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": f"no {kind} {number!r}"},
        status_code=404,
        media_type=PROBLEM_JSON,
    )


def _records_app(kind: str, prefix: str, records: Mapping[str, Mapping[str, Any]]) -> Starlette:
    store: dict[str, dict[str, Any]] = {key: copy.deepcopy(dict(value)) for key, value in records.items()}

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def read(request: Request) -> Response:
        number = request.path_params["number"]
        record = store.get(number)
        return _not_found(kind, number) if record is None else JSONResponse(record)

    async def erase(request: Request) -> Response:
        number = request.path_params["number"]
        if store.pop(number, None) is None:
            return _not_found(kind, number)
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route(f"/{prefix}/{{number}}", read, methods=["GET"]),
            Route(f"/{prefix}/{{number}}", erase, methods=["DELETE"]),
        ]
    )
    hits: Counter[str] = Counter()
    app.state.hits = hits
    app.state.records = store
    app.add_middleware(HitCounter, hits=hits)
    return app


def create_billing_app(accounts: Mapping[str, Mapping[str, Any]] | None = None) -> Starlette:
    """Billing and loyalty: accounts by account number (name, email, city, loyalty, purchases, payment card)."""
    return _records_app("account", "accounts", BILLING_ACCOUNTS if accounts is None else accounts)


def create_insurer_app(policies: Mapping[str, Mapping[str, Any]] | None = None) -> Starlette:
    """The insurer: policies by policy number (policyholder, insured vehicle, coverage, claims)."""
    return _records_app("policy", "policies", INSURER_POLICIES if policies is None else policies)


SYSTEMS = {"billing": create_billing_app, "insurer": create_insurer_app}
DEFAULT_PORTS = {"billing": 8702, "insurer": 8703}


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m gateway.demo.partners", description="A Consentry demo source system besides the vehicle cloud."
    )
    parser.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    port = args.port or DEFAULT_PORTS[args.system]
    uvicorn.run(SYSTEMS[args.system](), host=args.host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
