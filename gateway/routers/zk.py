"""Zero-knowledge predicate queries (scope `zk`), anchoring of attribute values, and the registry.

A CRM asks "does the subject's attribute satisfy this predicate?" and gets a yes or no with a proof
against a commitment anchored in the ledger, plus everything needed to check it offline
(`consentry zk verify`): the ledger entry, its inclusion proof and the signed checkpoint.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.dependencies import ZkDep, ZkQueriesDep, require_admin, require_customer, require_zk_client
from gateway.web.problems import Problem, problem_responses
from gateway.zk.anchors import AnchorResult
from gateway.zk.queries import ZkQuery, answer_query, attribute_or_404, ingest, register, subject_customer

router = APIRouter(tags=["zk"])

_SUBJECT = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$"

_QUERY_EXAMPLE: dict[str, Any] = {
    "subject": "cust-1001",
    "attribute": "age",
    "predicate": {"op": ">=", "operands": [18]},
    "purpose": "financial_product_recommendation",
    "nonce": "n-3f9c2a7e5b1d4c8f9a0b",
}


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_QUERY_EXAMPLE]})

    subject: str = Field(pattern=_SUBJECT, description="The subject's id in the source systems.")
    attribute: str = Field(
        min_length=1, max_length=64, description="A registered attribute id (GET /v1/zk/attributes)."
    )
    predicate: dict[str, Any] = Field(
        description='`{"op": OP, "operands": [...]}`; OP one of >=, <=, >, <, within, outside, ==, !=, in, not in.'
    )
    purpose: str = Field(min_length=1, max_length=100, description="The declared purpose (taxonomy id).")
    nonce: str = Field(
        min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$", description="Fresh verifier nonce, single use."
    )


class Checkpoint(BaseModel):
    origin: str
    size: int
    root: str = Field(description="Base64 RFC 9162 root hash.")
    note: str = Field(description="The C2SP signed note; verify with the log's verifier key.")


class AnchorEvidence(BaseModel):
    ledger_index: int = Field(description="Index of the `zk.commitment` entry of the commitment.")
    epoch: int = Field(description="The commitment's epoch: 1 for the first value, +1 per change.")
    as_of: str = Field(description="UTC date the value was derived at (an age is the age on this day).")
    entry: str = Field(description="Base64 leaf data (RFC 8785 envelope) of the entry.")
    payload: dict[str, Any] = Field(description="The entry's payload: attribute, schema, commitment, epoch…")
    salt: str = Field(description="Base64 salt of the payload hash in the entry.")
    subject_salt: str = Field(description="Base64 salt of the payload's subject binding.")
    inclusion_proof: list[str] = Field(description="Base64 RFC 9162 audit path at the checkpoint's size.")
    checkpoint: Checkpoint


class Access(BaseModel):
    ledger_index: int = Field(description="Ledger entry recording this query as an access.")
    decision: dict[str, Any] = Field(description="Matrix version, rule, legal basis, reasons, consent relied on.")


_NOTE = (
    "gateway.example.com/ledger\n42\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
    "\u2014 gateway.example.com/ledger Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9n"
    "To+zyWE+xeMcTOAYQ8=\n"
)
_SCHEMA: dict[str, Any] = {"name": "age", "kind": "integer", "bit_width": 8}
_COMMITMENT = "A3v1m0kq0V4bD7lQ2yPp3c0Zq8h2s5kq9Jf7Wb6xYz1a"
_RESPONSE_EXAMPLE: dict[str, Any] = {
    "subject": "cust-1001",
    "attribute": "age",
    "predicate": {"op": ">=", "operands": [18]},
    "purpose": "financial_product_recommendation",
    "holds": True,
    "answer": {
        "statement": {"attribute": _SCHEMA, "commitment": _COMMITMENT, "predicate": {"op": ">=", "operands": [18]}},
        "holds": True,
        "proof": "AQKx…",
    },
    "context": {
        "nonce": "n-3f9c2a7e5b1d4c8f9a0b",
        "client_id": "finance-crm",
        "purpose": "financial_product_recommendation",
        "expires_at": "2026-11-22T08:05:00Z",
        "anchor": "ledger:40;epoch:1",
    },
    "anchor": {
        "ledger_index": 40,
        "epoch": 1,
        "as_of": "2026-11-22",
        "entry": "eyJhY3RvciI6…",
        "payload": {
            "attribute": "age",
            "schema_version": 1,
            "schema": _SCHEMA,
            "commitment": _COMMITMENT,
            "epoch": 1,
            "as_of": "2026-11-22",
            "source": "upstream:vehicle-cloud",
            "subject_binding": "2mZP6i0bq7cJ2n0oQ1w1r3bqf8Vt7Jxk0lJvYQ8sZ2E=",
        },
        "salt": "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=",
        "subject_salt": "ASNFZ4mrze8BI0VniavN7w==",
        "inclusion_proof": ["bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="],
        "checkpoint": {
            "origin": "gateway.example.com/ledger",
            "size": 42,
            "root": "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=",
            "note": _NOTE,
        },
    },
    "access": {
        "ledger_index": 41,
        "decision": {
            "matrix_version": 1,
            "rule": "finance-age-predicate",
            "legal_basis": "consent",
            "reasons": ["matrix_allow", "consent"],
            "consent": {"record_id": "0193a8c2-7d4e-7b1a-9f00-5b2f3c4d5e6f", "ledger_index": 12},
        },
    },
}


class QueryResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RESPONSE_EXAMPLE]})

    subject: str
    attribute: str
    predicate: dict[str, Any]
    purpose: str
    holds: bool = Field(description="The answer. A false answer carries a proof of the negation.")
    answer: dict[str, Any] = Field(description="zkp Answer: statement, holds, proof (base64url).")
    context: dict[str, Any] = Field(description="nonce, client_id, purpose, expires_at, anchor (ledger index/epoch).")
    anchor: AnchorEvidence
    access: Access


class AnchorRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"subject": "cust-1001", "attributes": ["age", "city"]}]}
    )
    subject: str = Field(pattern=_SUBJECT, description="The customer's subject id in the source systems.")
    attributes: list[str] | None = Field(default=None, description="Attribute ids; default: every registered one.")
    source: str | None = Field(default=None, description="Upstream to read from; default: the configured one.")


class AnchorView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "attribute": "age",
                    "epoch": 1,
                    "ledger_index": 40,
                    "as_of": "2026-11-22",
                    "source": "upstream:vehicle-cloud",
                    "created": True,
                }
            ]
        }
    )
    attribute: str
    epoch: int
    ledger_index: int
    as_of: str
    source: str
    created: bool = Field(description="False when the value was unchanged and the existing anchor stands.")

    @classmethod
    def of(cls, result: AnchorResult) -> AnchorView:
        a = result.anchor
        return cls(
            attribute=a.attribute,
            epoch=a.epoch,
            ledger_index=a.ledger_index,
            as_of=a.as_of.isoformat(),
            source=a.source,
            created=result.created,
        )


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"value": "Shanghai"}]})
    value: int | str


class AttributeList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 1,
                    "attributes": [
                        {
                            "id": "age",
                            "version": 1,
                            "schema": _SCHEMA,
                            "category": "profile.birth_date",
                            "source_field": "/birth_date",
                            "derive": "age_at_epoch",
                            "time_dependent": True,
                            "customer_registrable": False,
                        }
                    ],
                }
            ]
        }
    )
    version: int
    attributes: list[dict[str, Any]]


@router.post(
    "/v1/zk/queries",
    summary="Ask a predicate about a subject's attribute; get a proven yes or no",
    description="Off unless `CONSENTRY_ZK_THRESHOLD_QUERIES` is set (403 `threshold-queries-disabled`): a caller "
    "choosing thresholds could bisect a value; `POST /v1/zk/questions` asks declared templates instead. "
    "Requires scope `zk` and a predicate-mode policy allow for the attribute's category. The nonce "
    "is single use within the answer's validity window (409 on replay). The answer is proved against the "
    "commitment anchored in the ledger (ingested from the source system first when missing or stale); the "
    "query is recorded in the ledger as an access before the answer is returned. Queries are rate-limited per "
    "client, answered and refused alike: beyond the burst, 429 `too-many-requests` with Retry-After, before "
    "any proof is made or anything is recorded.",
    response_model=QueryResponse,
    responses=problem_responses(401, 403, 404, 409, 410, 422, 429, 502, 503, 504),
)
async def zk_query(
    queries: ZkQueriesDep, body: QueryRequest, principal: ClientPrincipal = Depends(require_zk_client)
) -> dict[str, Any]:
    if not queries.zk.settings.threshold_queries:
        raise Problem(
            403,
            "threshold-queries-disabled",
            "Predicates with thresholds of your choosing are off here (they would make a comparison oracle): ask a "
            "declared question template at POST /v1/zk/questions.",
        )
    query = ZkQuery(body.subject, body.attribute, body.predicate, body.purpose, body.nonce)
    return await answer_query(queries, principal, query)


@router.get(
    "/v1/zk/attributes",
    summary="The registered zero-knowledge attributes",
    description="Id, schema (kind, bit width), the data category the policy decides on, and the source field.",
    response_model=AttributeList,
    responses=problem_responses(401, 403),
)
def zk_attributes(zk: ZkDep, _: ClientPrincipal = Depends(require_zk_client)) -> AttributeList:
    registry = zk.registry
    return AttributeList(version=registry.version, attributes=[a.to_json() for a in registry])


@router.post(
    "/v1/zk/anchors",
    summary="Ingest attribute values from a source system and anchor their commitments (admin)",
    description="Reads the subject's record (only each attribute's category), commits to the derived values and "
    "appends each changed commitment to the ledger. Values are never returned.",
    response_model=list[AnchorView],
    responses=problem_responses(401, 403, 404, 422, 502, 503, 504),
)
async def zk_anchor(
    queries: ZkQueriesDep, body: AnchorRequest, principal: ClientPrincipal = Depends(require_admin)
) -> list[AnchorView]:
    zk = queries.zk
    ids = body.attributes if body.attributes is not None else list(zk.registry.ids)
    attributes = [attribute_or_404(zk, attribute_id) for attribute_id in ids]
    customer = await subject_customer(queries, body.subject)
    results = []
    for attribute in attributes:
        result = await ingest(queries, customer, attribute, actor=principal.actor, source=body.source)
        results.append(AnchorView.of(result))
    return results


@router.put(
    "/v1/me/zk/attributes/{attribute}",
    summary="Register one of my own attribute values (customer)",
    description="For attributes the registry marks customer-registrable: the value is committed and anchored "
    "in the ledger as the customer's own declaration; it is never shown back. 409 `no-source-subject` when "
    "the account is not linked to a customer number yet.",
    response_model=AnchorView,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def zk_register(
    queries: ZkQueriesDep,
    body: AttributeValue,
    attribute: str = Path(description="A registered attribute id.", examples=["city"]),
    customer: CustomerPrincipal = Depends(require_customer),
) -> AnchorView:
    spec = attribute_or_404(queries.zk, attribute)
    result = await run_in_threadpool(register, queries, customer, spec, body.value, actor=customer.actor)
    return AnchorView.of(result)
