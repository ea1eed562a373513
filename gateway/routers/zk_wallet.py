"""Questions the customer's wallet answers (docs/zk-wallet.md §9, §12): the source's anchoring route, the CRM's
question route, the wallet's long poll and replies, and the public keys anyone verifies answers with.

The wallet connects out: it signs in with its DID (`POST /v1/session/did`) and long-polls; no route here calls
the customer's device. The CRM sends a whole question on a declared template and gets the wallet's proven answer
with its ledger evidence, or `customer-unavailable` when the wallet does not answer in time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from gateway.auth.principals import ClientPrincipal, CustomerPrincipal
from gateway.dependencies import (
    CredentialsDep,
    CustomersDep,
    PoliciesDep,
    ZkRelayDep,
    idempotent,
    require_customer,
    require_zk_client,
)
from gateway.rights.errors import CustomerRightsError
from gateway.rights.wallet_grants import record_grant
from gateway.web.json_body import body_schema, read_model
from gateway.web.problems import Problem, problem_responses
from gateway.zk import custody
from gateway.zk import relay as relaying
from policies import StateUnavailableError
from wallet.protocol import MAX_WAIT_SECONDS, DeclineReason

router = APIRouter(tags=["zk-wallet"])

_QUESTION_ID = r"^[A-Za-z0-9_-]{1,64}$"
STATEMENT_MAX_BYTES = 64 * 1024
ANSWER_MAX_BYTES = 64 * 1024
GRANT_MAX_BYTES = 16 * 1024
CUSTODY_MAX_BYTES = 1024 * 1024

_QUESTION_EXAMPLE: dict[str, Any] = {
    "template": {
        "id": "catalyst-or-misfire",
        "attribute": "fault_code",
        "predicate": {"op": "in", "operands": ["P0420", "P0300"]},
    },
    "subject": "cust-1001",
    "audience": "org:dealer-sh-4s",
    "purpose": "service_delivery",
    "nonce": "AdKWosWtR9ZO1q9C0QaNXI2H",
    "asked_at": "2026-03-02T10:00:00Z",
    "expires_at": "2026-03-02T10:05:00Z",
}


class PublicKeys(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "log_origin": "consentry.example/ledger",
                    "log_keys": ["consentry.example/ledger+4f1e2a9c+AWsy2LzuhSMs3uj0F3eqGJDNb1Nv0vVKZx0k3hHu3Iou"],
                    "time_keys": ["consentry.example/ledger/clock+0b6f3c2d+BNhjJ8m2Q3bBrAzU4cN0l1jbP4v2qkX9hL7kq1sW3R"],
                    "source_keys": ["vehicle-cloud.example+badf0ef3+AUg6J8OGm1uYw0WmSfr3M6XoH1AW2fAbWEcAR3vsXb0G"],
                }
            ]
        }
    )
    log_origin: str = Field(description="The ledger's checkpoint origin.")
    log_keys: list[str] = Field(description="C2SP signed-note verifier keys of the ledger's checkpoints.")
    time_keys: list[str] = Field(description="C2SP cosigner keys of the gateway's clock (tlog-cosignature/v1).")
    source_keys: list[str] = Field(description="Verifier keys of the source systems that sign statements.")


class StatementSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement: dict[str, Any] = Field(description="The source's signed statement (`zkp.SignedStatement`).")
    subject: str = Field(min_length=1, max_length=256, description="The subject's id in the source systems.")
    subject_salt: str = Field(
        min_length=1, max_length=64, description="Base64url 16-byte salt: proves the binding; never stored."
    )


class StatementAnchor(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"digest": "5d1c0b8e6f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c", "ledger_index": 7}
            ]
        }
    )
    digest: str = Field(description="SHA-256 (hex) of the canonical statement: how answers name it.")
    ledger_index: int = Field(description="The neutral `zk.statement` entry anchoring it.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"question": _QUESTION_EXAMPLE}]})
    question: dict[str, Any] = Field(
        description="The whole question (`zkp.Question`): a declared template, the subject, `org:<your "
        "organization>` as audience, the purpose, your fresh nonce, `asked_at` (your clock) and `expires_at`."
    )
    wait: int = Field(default=10, ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for the wallet before 504.")


class AnswerRelayed(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question_id": "q-3Jd9sK2mQ0aLp8xZ",
                    "status": "answered",
                    "holds": True,
                    "statement": {
                        "source": "vehicle-cloud.example",
                        "attribute": "fault_code",
                        "schema_version": 1,
                        "seq": 20514,
                        "issued_at": "2026-03-02T00:00:00Z",
                        "valid_until": "2026-03-03T00:00:00Z",
                        "ledger_index": 7,
                    },
                    "answer": {
                        "answer": {
                            "question": _QUESTION_EXAMPLE,
                            "statement": {"statement": {"type": "consentry/zk-statement/v1"}, "signature": "…"},
                            "subject_salt": "q7N0bq3Jt1m2XhQv6c8ZrA",
                            "holds": True,
                            "proof": "…",
                        },
                        "evidence": {
                            "ledger_index": 7,
                            "entry_time": "2026-03-02T09:00:00.000000Z",
                            "payload_salt": "fbo6PtVOUesSzHvw4zh3koo3yLVORM0H065690Vfmww",
                            "inclusion_proof": "…",
                            "checkpoint": "consentry.example/ledger\n12\n…",
                        },
                    },
                    "ledger_index": 12,
                }
            ]
        }
    )
    question_id: str
    status: str = Field(description="`answered`.")
    holds: bool = Field(description="The wallet's answer; check it: `consentry zk verify-answer` with public keys.")
    statement: dict[str, Any] = Field(
        description="What it was proven from: source, attribute, schema version, seq, issued-at, valid-until and "
        "the anchor's ledger index (all inside the answer too, where the verifier checks them)."
    )
    answer: dict[str, Any] = Field(description="`{answer: ProvenAnswer, evidence: Evidence}`.")
    ledger_index: int = Field(description="The entry recording question and answer.")


class PollResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "questions": [
                        {
                            "id": "q-3Jd9sK2mQ0aLp8xZ",
                            "question": _QUESTION_EXAMPLE,
                            "recipient": {"id": "org:dealer-sh-4s", "name": "Acme Pudong 4S Dealership (Shanghai)"},
                        }
                    ],
                    "cursor": "41",
                }
            ]
        }
    )
    questions: list[dict[str, Any]] = Field(description="Pending questions (at most 20), oldest first.")
    cursor: str | None = Field(description="Send it as `after` next time.")


class WalletReply(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "relayed", "holds": True, "ledger_index": 12}]}
    )
    status: str = Field(description="`relayed` or `declined`.")
    holds: bool | None = Field(default=None, description="The answer relayed (absent for a decline).")
    ledger_index: int = Field(description="The entry recording question and answer (or decline).")


class WalletAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: dict[str, Any] = Field(description="The wallet's `ProvenAnswer`.")


class WalletDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeclineReason


@router.get(
    "/v1/zk/trust",
    summary="The public keys that verify an answer (no authentication)",
    description="The ledger's checkpoint verifier keys, the clock's cosigner key and the source systems' "
    "statement keys: everything `consentry zk verify` and `zkp.verify_full_answer` need besides the answer.",
    response_model=PublicKeys,
)
def zk_trust(relay: ZkRelayDep) -> dict[str, Any]:
    return relay.public_keys()


@router.post(
    "/v1/zk/statements",
    status_code=201,
    summary="Anchor a source-signed statement (source systems)",
    description="The statement must be signed by a configured source key; that signature is the source's "
    "authentication. The salt shows the binding names the subject and is not kept. A successor must follow "
    "its series' latest statement (higher sequence number, window starting at or after its end): 409 otherwise. "
    "Anchoring the same statement again answers 200 with the existing anchor.",
    response_model=StatementAnchor,
    responses=problem_responses(400, 403, 409, 413, 422, 503),
    openapi_extra=body_schema(StatementSubmission),
)
async def zk_statement(request: Request, relay: ZkRelayDep) -> JSONResponse:
    body = await read_model(request, StatementSubmission, STATEMENT_MAX_BYTES)
    anchored, created = await run_in_threadpool(
        relaying.anchor_statement, relay, body.statement, body.subject, body.subject_salt
    )
    return JSONResponse(anchored, status_code=201 if created else 200)


class StatementEvidence(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ledger_index": 41,
                    "entry_time": "2026-03-02T00:00:01.000000Z",
                    "payload_salt": "fbo6PtVOUesSzHvw4zh3koo3yLVORM0H065690Vfmww",
                    "inclusion_proof": "b4Jt0lqW3k1rYv0VQm2xk6cQe7yN9zPZr8pWk1uQy2E",
                    "checkpoint": "consentry.example/ledger\n58\nZzN0…=\n\n— consentry.example/ledger 4Vxr…\n"
                    "— consentry.example/ledger/clock Yup6…\n",
                }
            ]
        }
    )
    ledger_index: int
    entry_time: str
    payload_salt: str
    inclusion_proof: str = Field(description="base64url of the concatenated RFC 9162 audit path")
    checkpoint: str = Field(description="The signed checkpoint note, cosigned by the gateway's clock now.")
    successor: dict[str, Any] | None = Field(
        None,
        description="Present once a later statement of the series is current: that signed statement and its "
        "anchor's position in the same checkpoint.",
    )


@router.get(
    "/v1/zk/statements/{digest}/evidence",
    summary="Fresh evidence for an anchored statement (no authentication)",
    description="The statement's anchor (entry time, payload salt, inclusion proof) in the latest checkpoint, "
    "cosigned by the gateway's clock now. When a later statement of its series is anchored and current, the "
    "evidence carries it as `successor`, included in the same checkpoint: put this evidence beside a stored "
    "answer and the public verifier tells whether the answer still stands (`superseded` otherwise). "
    "`digest` is the hex SHA-256 of the statement's RFC 8785 form.",
    response_model=StatementEvidence,
    response_model_exclude_none=True,
    responses=problem_responses(404, 410, 422),
)
async def zk_statement_evidence(relay: ZkRelayDep, digest: str = Path(pattern=r"^[0-9a-f]{64}$")) -> dict[str, Any]:
    return await run_in_threadpool(relaying.statement_evidence, relay, digest)


@router.post(
    "/v1/zk/questions",
    summary="Ask the customer's wallet a declared question; get its proven answer",
    description="Requires scope `zk`. The template must be one the matrix in force declares (its `questions:` "
    "section; `unknown-template` otherwise), exactly as declared (`template-altered` otherwise), and one your "
    "role may ask for the purpose (`template-not-declared`, recorded in the ledger), the audience your "
    "organization, `asked_at` within the clock skew and the question open at most the configured lifetime. The "
    "matrix's rules and the customer's consents must allow "
    "a predicate on the attribute's category, and the budget of distinct templates per (your organization, "
    "subject, attribute, statement validity period) must not be spent on other templates; refusals are recorded "
    "in the ledger. The question then waits for the customer's wallet up to `wait` seconds: 200 with the "
    "verified answer and its evidence, 403 `customer-declined`, or 504 `customer-unavailable` (with a poll URL "
    "while the question is still open).",
    response_model=AnswerRelayed,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503, 504),
)
async def zk_ask(
    relay: ZkRelayDep, body: AskRequest, principal: ClientPrincipal = Depends(require_zk_client)
) -> dict[str, Any]:
    return await relaying.ask(relay, principal, body.question, body.wait, custodian=custody.answer_for)


@router.get(
    "/v1/zk/questions/{question_id}",
    summary="The outcome of a question you asked",
    description="200 answered, 403 `customer-declined`, 504 `customer-unavailable` (with a poll URL while it is "
    "still open, without one once it expired); waits up to `wait` seconds while it is pending.",
    response_model=AnswerRelayed,
    responses=problem_responses(401, 403, 404, 504),
)
async def zk_question(
    relay: ZkRelayDep,
    question_id: str = Path(pattern=_QUESTION_ID),
    wait: int = Query(default=0, ge=0, le=MAX_WAIT_SECONDS),
    principal: ClientPrincipal = Depends(require_zk_client),
) -> dict[str, Any]:
    return await relaying.outcome(relay, principal, question_id, wait)


@router.get(
    "/v1/me/wallet/questions",
    summary="Long-poll for the questions addressed to me (the customer's wallet)",
    description="Holds the request up to `wait` seconds until a question created after the cursor `after` (or, "
    "without one, any pending question) is addressed to the signed-in customer. Send the returned cursor next "
    "time; pending questions stay pending until answered, declined or expired.",
    response_model=PollResult,
    responses=problem_responses(401, 422),
)
async def wallet_questions(
    relay: ZkRelayDep,
    wait: int = Query(default=0, ge=0, le=MAX_WAIT_SECONDS),
    after: str | None = Query(default=None, max_length=64),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return await relaying.poll(relay, customer, after, wait)


@router.post(
    "/v1/me/wallet/questions/{question_id}/answer",
    summary="Answer a question with a proof made in the wallet",
    description="The gateway attaches the statement's ledger evidence, verifies the whole answer with the public "
    "verifier against the question as asked (422 `answer-rejected` with the reason otherwise), records question "
    "and answer in the ledger and releases the answer to the recipient. 409 `question-closed` when it was "
    "answered, declined or expired; 404 for another customer's question.",
    response_model=WalletReply,
    responses=problem_responses(400, 401, 404, 409, 410, 413, 422, 503),
    openapi_extra=body_schema(WalletAnswer),
)
async def wallet_answer(
    request: Request,
    relay: ZkRelayDep,
    question_id: str = Path(pattern=_QUESTION_ID),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    body = await read_model(request, WalletAnswer, ANSWER_MAX_BYTES)
    return await run_in_threadpool(relaying.answer, relay, customer, question_id, body.answer)


@router.post(
    "/v1/me/wallet/questions/{question_id}/decline",
    summary="Decline a question",
    description="The recipient learns the reason (`declined_by_customer`, `declined_by_rule`, `no_statement`) "
    "and nothing else; the decline is recorded in the ledger.",
    response_model=WalletReply,
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def wallet_decline(
    relay: ZkRelayDep,
    body: WalletDecline,
    question_id: str = Path(pattern=_QUESTION_ID),
    customer: CustomerPrincipal = Depends(require_customer),
) -> dict[str, Any]:
    return await run_in_threadpool(relaying.decline, relay, customer, question_id, body.reason)


class WalletGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant: dict[str, Any] = Field(
        description="A `ConsentryAccessGrant` signed by the wallet's did:key (Data Integrity, eddsa-jcs-2022)."
    )


class GrantRecorded(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grant_id": "urn:uuid:909d32b5-6c43-4a54-9a4c-2f0c8a7f1b11",
                    "action": "given",
                    "record": {"record_id": "c-1", "valid_until": "2026-03-02T11:00:00Z", "status": "given"},
                    "receipt_id": "urn:uuid:2b1f0d7e-8c2a-4f4b-9b7e-1f2a3b4c5d6e",
                    "revoked_receipts": [],
                    "ledger_index": 42,
                    "receipt": {"type": ["VerifiableCredential", "ConsentReceipt"]},
                }
            ]
        }
    )
    grant_id: str
    action: str = Field(description="`given`, `renewed` or `given_again`.")
    record: dict[str, Any] = Field(description="The consent record, ending at the grant's `validUntil`.")
    receipt_id: str | None
    revoked_receipts: list[str]
    ledger_index: int | None = Field(description="The ledger entry of the consent.")
    receipt: dict[str, Any] | None = Field(description="The consent receipt, issued to the grantor's DID.")


@router.post(
    "/v1/me/wallet/grants",
    status_code=201,
    summary="Record a temporary access grant signed in the wallet",
    description="The grant (recipient `org:<id>` × categories × purpose × end time, at most 31 days) must be "
    "signed by the DID the wallet signed in with (403 `grantor-mismatch`) and in force (422 `grant-rejected` "
    "naming the rule). It becomes a consent ending at `validUntil`, recorded in the ledger, with a receipt issued "
    "to the DID; after `validUntil` decisions no longer count it, with nothing further to do.",
    dependencies=[Depends(idempotent(require_customer))],
    response_model=GrantRecorded,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503),
    openapi_extra=body_schema(WalletGrant),
)
async def wallet_grant(
    request: Request,
    policies: PoliciesDep,
    credentials: CredentialsDep,
    customers: CustomersDep,
    customer: CustomerPrincipal = Depends(require_customer),
) -> JSONResponse:
    body = await read_model(request, WalletGrant, GRANT_MAX_BYTES)
    try:
        recorded = await run_in_threadpool(
            record_grant, policies, credentials, customers, customer, body.grant, now=datetime.now(UTC)
        )
    except CustomerRightsError as exc:
        extensions = {"rule": exc.rule} if hasattr(exc, "rule") else {}
        raise Problem(exc.status_code, exc.kind, exc.message, **extensions) from exc
    except StateUnavailableError as exc:
        raise Problem(503, "unavailable", "Consent state cannot be read right now; try again shortly.") from exc
    return JSONResponse(recorded, status_code=201)


class CustodyView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "custodial",
                    "statements": 4,
                    "rules": [{"recipient": "org:dealer-sh-4s", "template": "catalyst-or-misfire", "action": "answer"}],
                }
            ]
        }
    )
    mode: str = Field(description="`wallet` (the default: your own wallet answers) or `custodial`.")
    statements: int = Field(description="Statements the gateway holds for you, openings sealed (0 in wallet mode).")
    rules: list[dict[str, Any]] = Field(description="The standing rules the gateway answers by in custodial mode.")


class CustodySwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(description="True: the gateway answers for you; false: only your wallet does.")


class CustodyHandOver(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statements: list[dict[str, Any]] = Field(description="Held statements (openings included), at most 100.")
    rules: dict[str, Any] = Field(description="The wallet's standing rules (`{version: 1, rules: [...]}`).")


@router.get(
    "/v1/me/wallet/custody",
    summary="Who answers questions about me: my wallet or the gateway",
    description="Off by default (`wallet`): only your own wallet answers, the gateway holds no opening.",
    response_model=CustodyView,
    responses=problem_responses(401),
)
async def custody_state(relay: ZkRelayDep, customer: CustomerPrincipal = Depends(require_customer)) -> dict[str, Any]:
    return (await run_in_threadpool(custody.state, relay.engine, customer.customer_id)).to_json()


@router.put(
    "/v1/me/wallet/custody",
    summary="Switch custodial answering on or off",
    description="On: the gateway answers questions for you from the statements your wallet hands over, by the "
    "rules it hands over. Off: every sealed opening is deleted and only your wallet answers. Each switch is a "
    "ledger entry (`zk.custody`).",
    response_model=CustodyView,
    responses=problem_responses(401, 422, 503),
)
async def custody_switch(
    relay: ZkRelayDep, body: CustodySwitch, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    return (await run_in_threadpool(custody.switch, relay, customer, body.enabled)).to_json()


@router.post(
    "/v1/me/wallet/custody/statements",
    summary="Hand statements and rules over to the gateway (custodial mode only)",
    description="Each statement must be signed by a configured source and about you; openings are sealed at rest "
    "and bound to their row. 409 `custody-off` unless custodial answering is on.",
    response_model=CustodyView,
    responses=problem_responses(400, 401, 409, 413, 422),
    openapi_extra=body_schema(CustodyHandOver),
)
async def custody_hand_over(
    request: Request, relay: ZkRelayDep, customer: CustomerPrincipal = Depends(require_customer)
) -> dict[str, Any]:
    body = await read_model(request, CustodyHandOver, CUSTODY_MAX_BYTES)
    handed = await run_in_threadpool(custody.hand_over, relay, customer, body.statements, body.rules)
    return handed.to_json()
