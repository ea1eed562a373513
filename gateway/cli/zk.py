"""`consentry zk …`: verify a predicate-query response offline, anchor attribute values, list attributes.

`zk verify` needs no gateway, database or network: the response file and the log's verifier key are
enough. Exit 0 when the response is valid, 1 when it fails verification (the reason on stderr), 2 for
unusable input (unreadable file, malformed key).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from gateway.cli._common import fail, runtime
from gateway.web.problems import Problem
from gateway.zk.queries import attribute_or_404, ingest
from gateway.zk.response import ResponseVerificationError, verify_response
from ledger import NoteError, parse_verifier_key
from zkp import AnswerRejected, Predicate, Question, TrustAnchors, ZkpError, verify_full_answer

app = typer.Typer(name="zk", help="Zero-knowledge predicate queries.", no_args_is_help=True)


def _log_keys(values: list[str]) -> list[str]:
    """Each value is a verifier key, or a file holding verifier keys one per line."""
    keys: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            try:
                keys.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            except (OSError, UnicodeDecodeError) as exc:
                raise fail(f"cannot read the log key file {value}: {exc}") from exc
        else:
            keys.append(value.strip())
    for key in keys:
        try:
            parse_verifier_key(key)
        except NoteError as exc:
            raise fail(f"not a signed-note verifier key: {exc}") from exc
    if not keys:
        raise fail("no log key given")
    return keys


@app.command("verify")
def verify(
    response_file: Path = typer.Argument(..., help="The JSON response of POST /v1/zk/queries."),
    log_key: list[str] = typer.Option(..., "--log-key", help="The log's verifier key (text, or a file of keys)."),
    nonce: str | None = typer.Option(None, "--nonce", help="The nonce you sent."),
    client_id: str | None = typer.Option(None, "--client-id", help="Your OAuth client id."),
    purpose: str | None = typer.Option(None, "--purpose", help="The purpose you declared."),
    subject: str | None = typer.Option(None, "--subject", help="The subject you asked about."),
    attribute: str | None = typer.Option(None, "--attribute", help="The attribute you asked about."),
    predicate: str | None = typer.Option(
        None, "--predicate", help='The predicate you asked, e.g. {"op":">=","operands":[18]}.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check the proof, the commitment's ledger anchor (inclusion in the signed checkpoint) and the statement."""
    keys = _log_keys(log_key)
    try:
        document = json.loads(response_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {response_file}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise fail(f"{response_file} is not JSON: {exc}") from exc
    asked: Predicate | None = None
    if predicate is not None:
        try:
            asked = Predicate.from_json(json.loads(predicate))
        except (json.JSONDecodeError, ZkpError) as exc:
            raise fail(f"--predicate: {exc}") from exc
    try:
        verified = verify_response(
            document,
            keys,
            nonce=nonce,
            client_id=client_id,
            purpose=purpose,
            subject=subject,
            attribute=attribute,
            predicate=asked,
        )
    except ResponseVerificationError as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "reason": exc.reason, "error": str(exc)}))
        raise fail(f"invalid response: {exc}", 1) from exc
    summary: dict[str, Any] = {
        "valid": True,
        "subject": verified.subject,
        "attribute": verified.attribute,
        "predicate": verified.predicate.to_json(),
        "holds": verified.holds,
        "ledger_index": verified.ledger_index,
        "epoch": verified.epoch,
        "checkpoint_size": verified.checkpoint_size,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    op = verified.predicate.op.value
    operands = ", ".join(map(str, verified.predicate.operands))
    typer.echo(
        f"valid: {verified.attribute} {op} {operands} is {'TRUE' if verified.holds else 'FALSE'} for "
        f"{verified.subject} (commitment at ledger index {verified.ledger_index}, epoch {verified.epoch}, "
        f"checkpoint size {verified.checkpoint_size})"
    )


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise fail(f"the {what} {path} is not JSON: {exc}") from exc


@app.command("verify-answer")
def verify_answer(
    answer_file: Path = typer.Argument(
        ..., help="The wallet's answer: the response of POST /v1/zk/questions, or its `answer` member."
    ),
    question_file: Path = typer.Option(..., "--question", help="The question you sent (JSON), exactly."),
    trust_file: Path | None = typer.Option(
        None, "--trust", help="The public keys (the JSON of GET /v1/zk/trust); or give each key below."
    ),
    log_key: list[str] = typer.Option([], "--log-key", help="A pinned log verifier key (repeatable)."),
    time_key: list[str] = typer.Option([], "--time-key", help="A pinned clock cosigner key (repeatable)."),
    source_key: list[str] = typer.Option([], "--source-key", help="A pinned source statement key (repeatable)."),
    at_checkpoint: bool = typer.Option(
        False, "--at-checkpoint", help="Judge a stored answer as of its checkpoint's time, not now."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check a wallet's answer with public material only: the question asked, the source's signature, the
    subject binding, the cosigned checkpoint, the anchor's inclusion, freshness and the proof."""
    document = _read_json(answer_file, "answer")
    if isinstance(document, dict) and set(document) >= {"question_id", "answer"}:
        document = document["answer"]
    keys = {"log_keys": list(log_key), "time_keys": list(time_key), "source_keys": list(source_key)}
    if trust_file is not None:
        published = _read_json(trust_file, "trust file")
        for name in keys:
            value = published.get(name, []) if isinstance(published, dict) else []
            keys[name] += [k for k in value if isinstance(k, str)]
    missing = [name for name, value in keys.items() if not value]
    if missing:
        raise fail(f"no {', '.join(missing)}: give --trust or the keys")
    try:
        asked = Question.from_json(_read_json(question_file, "question"))
        trust = TrustAnchors(tuple(keys["log_keys"]), tuple(keys["time_keys"]), tuple(keys["source_keys"]))
    except (ZkpError, NoteError) as exc:
        raise fail(f"unusable input: {exc}") from exc
    try:
        verified = verify_full_answer(document, trust, question=asked, now=None if at_checkpoint else datetime.now(UTC))
    except AnswerRejected as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "reason": exc.reason, "error": str(exc)}))
        raise fail(f"invalid answer: {exc}", 1) from exc
    if as_json:
        typer.echo(json.dumps({"valid": True, **verified.to_json()}))
        return
    template = verified.template
    typer.echo(
        f"valid: {template.id} ({template.describe()}) is {'TRUE' if verified.holds else 'FALSE'} for "
        f"{verified.subject}, proven from {verified.source}'s statement seq {verified.statement.seq} "
        f"(valid {verified.to_json()['issued_at']} .. {verified.to_json()['valid_until']}), anchored at ledger "
        f"index {verified.ledger_index}, checkpoint size {verified.checkpoint_size} as of "
        f"{verified.to_json()['checkpoint_time']}"
    )


@app.command("anchor")
def anchor(
    subject: str = typer.Argument(..., help="The subject's id in the source systems."),
    attribute: list[str] = typer.Option([], "--attribute", help="Attribute id (repeatable); default: all."),
    source: str | None = typer.Option(None, "--source", help="Upstream to read from."),
) -> None:
    """Ingest a subject's attribute values from the source system and anchor changed commitments."""
    with runtime() as rt:
        customer = rt.customers.by_source_subject(subject)
        if customer is None:
            raise fail(f"no customer is enrolled with the source subject {subject!r}", 1)

        async def run() -> list[str]:
            lines = []
            try:
                for attribute_id in attribute or list(rt.zk.registry.ids):
                    spec = attribute_or_404(rt.zk, attribute_id)
                    result = await ingest(rt.zk_queries, customer, spec, actor="cli:zk-anchor", source=source)
                    state = "anchored" if result.created else "unchanged"
                    a = result.anchor
                    lines.append(f"{a.attribute}: {state}, epoch {a.epoch} at ledger index {a.ledger_index}")
            finally:
                await rt.upstreams.aclose()
            return lines

        try:
            for line in asyncio.run(run()):
                typer.echo(line)
        except Problem as exc:
            raise fail(exc.detail or exc.kind, 1) from exc


@app.command("attributes")
def attributes() -> None:
    """The registered attributes as JSON."""
    with runtime() as rt:
        typer.echo(json.dumps([a.to_json() for a in rt.zk.registry], indent=2))
