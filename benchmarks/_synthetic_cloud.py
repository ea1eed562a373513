"""A synthetic vehicle cloud for `consentry bench analytics`: millions of customers, none of them stored.

Customer `syn-0000001`..`syn-NNNNNNN` has a model and a mileage computed from its number alone (a fixed integer
hash), so the server pages through any population in constant memory and the benchmark can compute the exact
statistics itself. ``GET /export/{population}/vehicles?after=ID&limit=N`` answers like the demo vehicle cloud's
bulk resource: items in customer order and the cursor of the next page.

Run it alone with ``python -m benchmarks._synthetic_cloud --port 8703``.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["MODELS", "create_synthetic_cloud_app", "main", "subject", "vehicle"]

MODELS = ("Aurora", "Breeze", "Comet")
MAX_POPULATION = 10_000_000
MAX_LIMIT = 10_000
_BASE_KM = {"Aurora": 20_000, "Breeze": 60_000, "Comet": 35_000}


def subject(number: int) -> str:
    return f"syn-{number:07d}"


def vehicle(number: int) -> tuple[str, int]:
    """Customer `number`'s model and mileage: a multiplicative hash spread over 0..~160,000 km."""
    mixed = (number * 2654435761) % 4294967296
    model = MODELS[mixed % 3]
    return model, _BASE_KM[model] + (mixed >> 8) % 100_000


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"title": "Bad Request", "status": 400, "detail": detail}, status_code=400)


def create_synthetic_cloud_app() -> Starlette:
    async def export(request: Request) -> JSONResponse:
        population = int(request.path_params["population"])
        if not 1 <= population <= MAX_POPULATION:
            return _bad("population out of range")
        try:
            limit = int(request.query_params.get("limit", "1000"))
            after = request.query_params.get("after")
            start = int(after.removeprefix("syn-")) + 1 if after else 1
        except ValueError:
            return _bad("limit and after must be numbers")
        if not 1 <= limit <= MAX_LIMIT:
            return _bad("limit out of range")
        end = min(population, start + limit - 1)
        items = []
        for number in range(start, end + 1):
            model, mileage = vehicle(number)
            items.append({"subject": subject(number), "vehicle": {"model": model, "mileage_km": mileage}})
        return JSONResponse({"items": items, "next": subject(end) if end < population else None})

    return Starlette(routes=[Route("/export/{population:int}/vehicles", export, methods=["GET"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._synthetic_cloud")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8703)
    args = parser.parse_args(argv)
    uvicorn.run(create_synthetic_cloud_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
