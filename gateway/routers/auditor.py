"""The auditor API: signed checkpoints, entries, Merkle proofs and event search. Scope `ledger:read`.

Every proof is returned with the signed checkpoint (C2SP note) of the tree size it was computed
against, so an auditor verifies the proof against a root the operator has signed, not against a bare
number. Proofs are only served at sizes with a published checkpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gateway.audit.checkpoints import CheckpointBook, SignedCheckpoint
from gateway.audit.event_index import EventQuery
from gateway.auth.principals import ClientPrincipal
from gateway.dependencies import CheckpointsDep, EventsDep, LedgerDep, require_auditor
from gateway.web.problems import Problem, problem_responses
from ledger import leaf_hash
from ledger.b64 import b64encode

router = APIRouter(prefix="/v1/ledger", tags=["auditor"], responses=problem_responses(401, 403))

MAX_ENTRIES = 1000

_NOTE_EXAMPLE = (
    "gateway.example.com/ledger\n42\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n"
    "— gateway.example.com/ledger Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9n"
    "To+zyWE+xeMcTOAYQ8=\n"
)


class CheckpointView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "origin": "gateway.example.com/ledger",
                    "size": 42,
                    "root": "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=",
                    "note": _NOTE_EXAMPLE,
                }
            ]
        }
    )
    origin: str
    size: int = Field(description="Tree size the checkpoint commits to.")
    root: str = Field(description="Base64 RFC 9162 root hash at that size.")
    note: str = Field(description="The C2SP signed note (tlog-checkpoint); verify it with the verifier keys.")

    @classmethod
    def of(cls, signed: SignedCheckpoint) -> CheckpointView:
        cp = signed.checkpoint
        return cls(origin=cp.origin, size=cp.size, root=b64encode(cp.root), note=signed.note)


class VerifierKeys(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "origin": "gateway.example.com/ledger",
                    "verifier_keys": [
                        "gateway.example.com/ledger+a1b2c3d4+AUTc4O7dcnU+P/ZyaXbGG9HbKoFmG6ezVJxLyXd0SDvC"
                    ],
                }
            ]
        }
    )
    origin: str
    verifier_keys: list[str] = Field(description="Signed-note verifier keys, oldest first; all stay valid.")


class Entry(BaseModel):
    index: int
    data: str = Field(description="Base64 of the leaf data (RFC 8785 canonical JSON envelope).")
    leaf_hash: str = Field(description="Base64 RFC 9162 leaf hash SHA-256(0x00 || data).")


class EntryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": 0,
                    "end": 1,
                    "tree_size": 42,
                    "entries": [
                        {
                            "index": 0,
                            "data": "eyJhY3RvciI6InN5c3RlbSIsInBheWxvYWRfaGFzaCI6bnVsbCwic3ViamVjdCI6bnVsbCwidGltZSI6"
                            "IjIwMjYtMDEtMDFUMDA6MDA6MDBaIiwidHlwZSI6InBvbGljeS5jaGFuZ2UiLCJ2IjoxfQ==",
                            "leaf_hash": "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                        }
                    ],
                }
            ]
        }
    )
    start: int
    end: int = Field(description="Exclusive end actually returned (clipped to the log).")
    tree_size: int
    entries: list[Entry]


class InclusionProof(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 3,
                    "tree_size": 42,
                    "leaf_hash": "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                    "audit_path": ["5B2yNm3XBrKnMX2ZfqEgtbRJH4C3zW0DGmT7J7ImN0A="],
                    "checkpoint": {
                        "origin": "gateway.example.com/ledger",
                        "size": 42,
                        "root": "qINS…",
                        "note": _NOTE_EXAMPLE,
                    },
                }
            ]
        }
    )
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3 inclusion proof, base64 hashes in order.")
    checkpoint: CheckpointView


class ConsistencyProof(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "first": 10,
                    "second": 42,
                    "proof": ["5B2yNm3XBrKnMX2ZfqEgtbRJH4C3zW0DGmT7J7ImN0A="],
                    "checkpoint": {
                        "origin": "gateway.example.com/ledger",
                        "size": 42,
                        "root": "qINS…",
                        "note": _NOTE_EXAMPLE,
                    },
                    "first_checkpoint": None,
                }
            ]
        }
    )
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, base64 hashes in order.")
    checkpoint: CheckpointView = Field(description="The signed checkpoint at `second`.")
    first_checkpoint: CheckpointView | None = Field(description="Our checkpoint at `first`, when one was published.")


class EventView(BaseModel):
    index: int
    type: str
    actor: str
    subject: str | None = Field(description="Subject pseudonym (keyed HMAC), never a raw id.")
    recipient: str | None
    purpose: str | None
    time: str


class EventPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "index": 7,
                            "type": "access",
                            "actor": "client:crm-dealer-4s",
                            "subject": "3q2-7w…",
                            "recipient": "crm-dealer-4s",
                            "purpose": "service-reminder",
                            "time": "2026-01-01T10:00:00+00:00",
                        }
                    ],
                    "next_after": 7,
                }
            ]
        }
    )
    events: list[EventView]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


def _checkpoint_at(book: CheckpointBook, size: int | None) -> SignedCheckpoint:
    if size is None:
        return book.latest()
    signed = book.at(size)
    if signed is None:
        latest = book.latest()
        if latest.checkpoint.size == size:
            return latest
        raise Problem(
            404,
            "no-checkpoint-at-size",
            f"No checkpoint was published at tree size {size}; use a published size "
            f"(the latest is {latest.checkpoint.size}).",
            title="Not Found",
        )
    return signed


@router.get(
    "/checkpoint",
    summary="Latest signed checkpoint",
    description="A C2SP tlog-checkpoint signed by the gateway covering every acknowledged entry; a fresh one is "
    "signed when the log grew since the last. Keep it: later consistency proofs show the log only grew from it.",
    response_model=CheckpointView,
)
async def latest_checkpoint(
    checkpoints: CheckpointsDep, _: ClientPrincipal = Depends(require_auditor)
) -> CheckpointView:
    return CheckpointView.of(await run_in_threadpool(checkpoints.latest))


@router.get(
    "/keys",
    summary="Checkpoint verifier keys",
    description="The signed-note verifier keys of every checkpoint key this gateway has used, oldest first.",
    response_model=VerifierKeys,
)
def verifier_keys(checkpoints: CheckpointsDep, _: ClientPrincipal = Depends(require_auditor)) -> VerifierKeys:
    return VerifierKeys(origin=checkpoints.origin, verifier_keys=checkpoints.verifier_keys)


@router.get(
    "/entries",
    summary="Entries by index range",
    description=f"Leaf data of entries [start, end), at most {MAX_ENTRIES} per call, clipped to the log's size.",
    response_model=EntryPage,
    responses=problem_responses(422),
)
def entries(
    ledger: LedgerDep,
    start: int = Query(ge=0, description="First index.", examples=[0]),
    end: int = Query(gt=0, description="Exclusive end index.", examples=[100]),
    _: ClientPrincipal = Depends(require_auditor),
) -> EntryPage:
    if end <= start or end - start > MAX_ENTRIES:
        raise Problem(422, "validation", f"Need start < end and at most {MAX_ENTRIES} entries per call.")
    size = ledger.size()
    leaves = ledger.entries(start, min(end, size))
    return EntryPage(
        start=start,
        end=start + len(leaves),
        tree_size=size,
        entries=[
            Entry(index=start + i, data=b64encode(leaf), leaf_hash=b64encode(leaf_hash(leaf)))
            for i, leaf in enumerate(leaves)
        ],
    )


@router.get(
    "/proofs/inclusion",
    summary="Inclusion proof",
    description="The RFC 9162 audit path of entry `index` in the tree of `tree_size` (default: the latest "
    "checkpoint), with the signed checkpoint of that size.",
    response_model=InclusionProof,
    responses=problem_responses(404, 422),
)
async def inclusion(
    checkpoints: CheckpointsDep,
    ledger: LedgerDep,
    index: int = Query(ge=0, description="Entry index.", examples=[3]),
    tree_size: int | None = Query(None, gt=0, description="A published checkpoint size.", examples=[42]),
    _: ClientPrincipal = Depends(require_auditor),
) -> InclusionProof:
    def build() -> InclusionProof:
        signed = _checkpoint_at(checkpoints, tree_size)
        size = signed.checkpoint.size
        if index >= size:
            raise Problem(422, "validation", f"Entry {index} is not in the tree of size {size}.")
        path = ledger.inclusion_proof(index, size)
        return InclusionProof(
            index=index,
            tree_size=size,
            leaf_hash=b64encode(leaf_hash(ledger.entry(index))),
            audit_path=[b64encode(h) for h in path],
            checkpoint=CheckpointView.of(signed),
        )

    return await run_in_threadpool(build)


@router.get(
    "/proofs/consistency",
    summary="Consistency proof",
    description="The RFC 9162 proof that the tree of size `first` is a prefix of the tree of size `second` "
    "(default: the latest checkpoint), with the signed checkpoint at `second` and ours at `first` if any.",
    response_model=ConsistencyProof,
    responses=problem_responses(404, 422),
)
async def consistency(
    checkpoints: CheckpointsDep,
    ledger: LedgerDep,
    first: int = Query(ge=0, description="The older size (e.g. from a checkpoint you kept).", examples=[10]),
    second: int | None = Query(None, gt=0, description="A published checkpoint size.", examples=[42]),
    _: ClientPrincipal = Depends(require_auditor),
) -> ConsistencyProof:
    def build() -> ConsistencyProof:
        signed = _checkpoint_at(checkpoints, second)
        size = signed.checkpoint.size
        if first > size:
            raise Problem(422, "validation", f"first ({first}) exceeds second ({size}).")
        proof = ledger.consistency_proof(first, size)
        earlier = checkpoints.at(first) if first > 0 else None
        return ConsistencyProof(
            first=first,
            second=size,
            proof=[b64encode(h) for h in proof],
            checkpoint=CheckpointView.of(signed),
            first_checkpoint=CheckpointView.of(earlier) if earlier else None,
        )

    return await run_in_threadpool(build)


@router.get(
    "/events",
    summary="Search events",
    description="Ledger events by subject pseudonym, type, actor, recipient, purpose and time window (RFC 3339, "
    "`since` inclusive, `until` exclusive), in index order. Page with `after`.",
    response_model=EventPage,
    responses=problem_responses(422),
)
async def search_events(
    events: EventsDep,
    subject: str | None = Query(None, max_length=200, description="Subject pseudonym.", examples=["3q2-7w"]),
    type: str | None = Query(None, max_length=100, description="Event type.", examples=["access"]),
    actor: str | None = Query(None, max_length=200, description="Who caused it.", examples=["client:crm-dealer-4s"]),
    recipient: str | None = Query(None, max_length=200, description="Recipient client.", examples=["crm-dealer-4s"]),
    purpose: str | None = Query(None, max_length=200, description="Declared purpose.", examples=["service-reminder"]),
    since: datetime | None = Query(None, description="Earliest time (inclusive).", examples=["2026-01-01T00:00:00Z"]),
    until: datetime | None = Query(None, description="Latest time (exclusive).", examples=["2026-02-01T00:00:00Z"]),
    after: int = Query(-1, ge=-1, description="Return entries with a larger index."),
    limit: int = Query(100, ge=1, le=1000, description="Page size."),
    _: ClientPrincipal = Depends(require_auditor),
) -> EventPage:
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise Problem(422, "validation", "since/until need a time zone offset (RFC 3339), e.g. Z.")
    query = EventQuery(
        subject=subject,
        type=type,
        actor=actor,
        recipient=recipient,
        purpose=purpose,
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
        after=after,
        limit=limit,
    )
    found = await run_in_threadpool(events.search, query)
    return EventPage(
        events=[
            EventView(
                index=e.index,
                type=e.type,
                actor=e.actor,
                subject=e.subject,
                recipient=e.recipient,
                purpose=e.purpose,
                time=e.time.isoformat(),
            )
            for e in found
        ],
        next_after=found[-1].index if len(found) == limit else None,
    )
