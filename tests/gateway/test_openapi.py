"""The committed OpenAPI document is what the app generates, and every route is documented."""

from __future__ import annotations

from pathlib import Path

from gateway.cli.openapi import openapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    assert COMMITTED.read_text() == render(), (
        "openapi/openapi.json drifted: run `consentry openapi > openapi/openapi.json`"
    )


def test_every_operation_has_a_summary_a_description_and_examples() -> None:
    document = openapi_document()
    undocumented = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if not operation.get("summary") or not operation.get("description"):
                undocumented.append(f"{where}: summary/description")
            ok = next((r for s, r in operation["responses"].items() if s.startswith("2")), None)
            if ok is None:
                undocumented.append(f"{where}: no success response")
                continue
            for media in ok.get("content", {}).values():
                schema = media.get("schema", {})
                ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
                example = media.get("examples") if "examples" in media else media.get("example", None)
                if ref:
                    example = example or document["components"]["schemas"][ref.rsplit("/", 1)[1]].get("examples")
                if example is None:
                    undocumented.append(f"{where}: no example")
    assert undocumented == []


def test_error_responses_reference_the_problem_details_schema() -> None:
    document = openapi_document()
    assert "ProblemDetails" in document["components"]["schemas"]
    token = document["paths"]["/oauth/token"]["post"]["responses"]["401"]
    assert token["content"]["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/ProblemDetails"
