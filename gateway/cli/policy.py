"""`consentry policy`: validate, explain, render agreements, review impact, and change the matrix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import inspect

from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.cli.policy_common import DATABASE_URL, JSON, MATRIX, TAXONOMY, fail, guarded, parse_time, runtime
from gateway.store.tables import customers as customers_table
from gateway.zk.service import load_registry
from gateway.zk.templates import attribute_problems
from policies import (
    DecisionMode,
    Matrix,
    PolicyRuntime,
    SubjectContext,
    Taxonomy,
    ValidationError,
    load_matrix,
    load_taxonomy,
)
from policies.agreement import render_agreement
from policies.compliance import check as compliance_check
from policies.dpia import RATING_RULES, assess_risks, assessment_markdown

app = typer.Typer(help="The data taxonomy and the authorization matrix.", no_args_is_help=True)
READ_ONLY_KEY = b"\0" * 32  # read commands never pseudonymise: no ledger entry is written


def _load_checked(taxonomy: Path, matrix: Path) -> tuple[Taxonomy, Matrix]:
    """The taxonomy and the matrix, the matrix's question templates checked against the attribute registry too."""
    tax = load_taxonomy(taxonomy)
    mat = load_matrix(tax, matrix)
    problems = attribute_problems(mat.questions, load_registry(frozenset(tax.categories)), str(matrix))
    if problems:
        raise ValidationError(problems)
    return tax, mat


def _dump(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


@app.command("check")
def check(
    taxonomy: Path = TAXONOMY,
    matrix: Path = MATRIX,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when the compliance checker finds conflicts."),
    as_json: bool = JSON,
) -> None:
    """Validate the taxonomy and matrix (each problem as file:line on stderr, exit 2), then list conflicts."""
    try:
        tax, mat = _load_checked(taxonomy, matrix)
    except ValidationError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    findings = compliance_check(tax, mat.rules)
    if as_json:
        _dump(
            {
                "taxonomy": {"path": str(taxonomy), "version": tax.version, "sha256": tax.digest},
                "matrix": {
                    "path": str(matrix),
                    "version": mat.version,
                    "rules": len(mat.rules),
                    "question_templates": len(mat.questions.templates),
                },
                "findings": [{"code": f.code, "message": f.message, "line": f.line} for f in findings],
            }
        )
    else:
        typer.echo(
            f"ok: {taxonomy} (version {tax.version}: {len(tax.categories)} categories, {len(tax.purposes)} purposes, "
            f"{len(tax.recipients)} recipients) and {matrix} ({len(mat.rules)} rules, "
            f"{len(mat.questions.templates)} question templates)"
        )
        for f in findings:
            typer.echo(f"warning: {f}" + (f" ({taxonomy}:{f.line})" if f.code == "notice_missing_item" else ""))
    if strict and findings:
        raise typer.Exit(1)


def _stored_customer(rt: PolicyRuntime, subject: str | None, customer: str | None) -> CustomerPrincipal | None:
    """The gateway's stored customer `--customer` (username, customer id or source subject) or `--subject` (customer
    id) names; None for a bare subject, or a database without the gateway's tables (policies only)."""
    engine = rt.consents.engine
    if not inspect(engine).has_table(customers_table.name):
        if customer is not None:
            raise fail("this database holds no gateway customers; name the subject with --subject")
        return None
    store = CustomerStore(engine)
    if customer is not None:
        found = store.by_username(customer) or store.get(customer) or store.by_source_subject(customer)
        if found is None:
            raise fail(f"no stored customer {customer!r} (username, customer id or source subject)")
        return found
    assert subject is not None
    return store.get(subject)


@app.command("explain")
def explain(
    recipient: list[str] = typer.Option(..., "--recipient", help="Recipient id from the taxonomy (repeatable)."),
    subject: str | None = typer.Option(None, "--subject", help="The customer's id (a stored one decides as stored)."),
    customer: str | None = typer.Option(
        None, "--customer", help="A stored customer by username, customer id or source subject."
    ),
    category: list[str] = typer.Option(..., "--category", help="Data category (repeat for several)."),
    purpose: list[str] = typer.Option(..., "--purpose", help="Purpose (repeatable)."),
    customer_type: str | None = typer.Option(
        None, "--customer-type", help="For a subject who is not a stored customer (default standard)."
    ),
    jurisdiction: str | None = typer.Option(
        None, "--jurisdiction", help="For a subject who is not a stored customer (default CN)."
    ),
    mode: str = typer.Option("release", "--mode", help="release, predicate or aggregate"),
    at: str | None = typer.Option(None, "--at", help="Decide as of this RFC 3339 time (default: now)."),
    url: str | None = DATABASE_URL,
    taxonomy: Path = TAXONOMY,
    as_json: bool = JSON,
) -> None:
    """Decide requests against the stored matrix and consents, exactly as the gateway does, and say why.

    A stored customer is decided with their stored type and jurisdiction (what the proxy uses); naming another
    type or jurisdiction for them is refused rather than answered for someone they are not. With several
    recipients or purposes, one decision per pair (`--json`: a list)."""
    when = parse_time(at, "--at")
    modes: dict[str, DecisionMode] = {"release": "release", "predicate": "predicate", "aggregate": "aggregate"}
    if mode not in modes:
        raise fail(f"--mode must be release, predicate or aggregate, got {mode!r}")
    if (subject is None) == (customer is None):
        raise fail("name the subject with exactly one of --subject or --customer")
    with runtime(url, taxonomy, key=READ_ONLY_KEY, create=False) as rt, guarded():
        stored = _stored_customer(rt, subject, customer)
        if stored is not None:
            context = stored.subject_context
            for option, given, actual in (
                ("--customer-type", customer_type, context.customer_type),
                ("--jurisdiction", jurisdiction, context.jurisdiction),
            ):
                if given is not None and given != actual:
                    raise fail(f"{option} {given}: the stored customer's is {actual}, and the gateway decides by it")
        else:
            assert subject is not None
            context = SubjectContext(subject, customer_type or "standard", jurisdiction or "CN")
        decisions = [
            rt.engine.decide(r, context, category, p, mode=modes[mode], at=when) for r in recipient for p in purpose
        ]
    if as_json:
        _dump(decisions[0].to_dict() if len(decisions) == 1 else [d.to_dict() for d in decisions])
        return
    for decision in decisions:
        typer.echo(
            f"{decision.recipient} / {decision.purpose} / {mode} for {context.customer_type} in {context.jurisdiction}"
            f" (matrix version {decision.matrix_version}):"
        )
        for c in decision.categories:
            verdict = "ALLOW" if c.allowed else "DENY "
            via = f" rule={c.rule}" if c.rule else ""
            if c.consent is not None:
                via += f" consent={c.consent.record_id} ledger_index={c.consent.ledger_index}"
            elif c.legal_basis and c.allowed:
                via += f" basis={c.legal_basis}"
            typer.echo(f"  {verdict} {c.category}: {', '.join(r.value for r in c.reasons)}{via}")


@app.command("agreement")
def agreement(
    jurisdiction: str = typer.Option(..., "--jurisdiction"),
    lang: str = typer.Option("en", "--lang", help="zh-CN or en"),
    customer_type: str = typer.Option("standard", "--customer-type"),
    taxonomy: Path = TAXONOMY,
    matrix: Path = MATRIX,
    as_json: bool = JSON,
) -> None:
    """Render the consent notice for a jurisdiction and language, with its version, hash and implied rules."""
    with guarded():
        tax = load_taxonomy(taxonomy)
        mat = load_matrix(tax, matrix)
        doc = render_agreement(
            tax,
            mat.rules,
            jurisdiction=jurisdiction,
            lang=lang,
            matrix_version=mat.version,
            customer_type=customer_type,
        )
    if as_json:
        _dump(
            {
                "jurisdiction": doc.jurisdiction,
                "lang": doc.lang,
                "version": doc.version,
                "sha256": doc.sha256,
                "rules": list(doc.rules),
                "text": doc.text,
            }
        )
        return
    typer.echo(doc.text, nl=False)
    typer.echo(f"\n-- version {doc.version}, sha256 {doc.sha256}, implied rules: {', '.join(doc.rules)}")


@app.command("dpia")
def dpia(
    taxonomy: Path = TAXONOMY,
    matrix: Path = MATRIX,
    as_json: bool = JSON,
    out: Path | None = typer.Option(None, "--out", help="Directory to write dpia.md and dpia.json into."),
) -> None:
    """Risk-rated impact assessment of every allowed flow (category x purpose x recipient x customer type x
    destination), with its stated rules and the mitigations in force; exit 1 when a residual risk is high."""
    with guarded():
        tax = load_taxonomy(taxonomy)
        assessments = assess_risks(tax, load_matrix(tax, matrix).rules)
    document = {"rules": list(RATING_RULES), "flows": [a.to_dict() for a in assessments]}
    markdown = assessment_markdown(tax, assessments)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "dpia.md").write_text(markdown, encoding="utf-8")
        (out / "dpia.json").write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    if as_json:
        _dump(document)
    else:
        typer.echo(markdown, nl=False)
    high = [a for a in assessments if a.residual == "high"]
    if high:
        for a in high:
            typer.echo(
                f"high residual risk: {a.category} -> {a.recipient} [{a.destination}] for {a.purpose}, "
                f"{a.customer_type} ({', '.join(a.factors)})",
                err=True,
            )
        raise typer.Exit(1)


@app.command("apply")
def apply(
    matrix: Path = typer.Argument(..., help="The new matrix YAML file."),
    actor: str = typer.Option(..., "--actor", help="Who makes the change, e.g. admin:alice."),
    note: str | None = typer.Option(None, "--note"),
    url: str | None = DATABASE_URL,
    taxonomy: Path = TAXONOMY,
    as_json: bool = JSON,
) -> None:
    """Replace the stored matrix: validated whole, diffed, appended to the ledger, applied atomically."""
    try:
        _, mat = _load_checked(taxonomy, matrix)
    except ValidationError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    with runtime(url, taxonomy, key=READ_ONLY_KEY, create=True) as rt, guarded():
        change = rt.matrix.apply(mat, actor=actor, note=note)
    if as_json:
        _dump(
            {
                "version": change.version,
                "ledger_index": change.ledger_index,
                "diff": change.diff,
                "consents": dict(change.consents),
            }
        )
        return
    d = change.diff
    typer.echo(
        f"matrix version {change.version} (ledger index {change.ledger_index}): "
        f"{len(d['added'])} added, {len(d['removed'])} removed, {len(d['changed'])} changed; "
        f"{len(change.consents['widened'])} flows widened (consents must be given again for them), "
        f"{len(change.consents['narrowed'])} narrowed (stopped at once)"
    )


@app.command("history")
def history(url: str | None = DATABASE_URL, taxonomy: Path = TAXONOMY, as_json: bool = JSON) -> None:
    """Every matrix version: who, when, why, the diff and its ledger index."""
    with runtime(url, taxonomy, key=READ_ONLY_KEY, create=False) as rt, guarded():
        versions = rt.matrix.history()
    if as_json:
        _dump(versions)
        return
    for v in versions:
        d = v["diff"]
        typer.echo(
            f"v{v['version']} {v['created_at']} by {v['actor']} (ledger index {v['ledger_index']}): "
            f"+{len(d['added'])} -{len(d['removed'])} ~{len(d['changed'])} {v['note'] or ''}".rstrip()
        )
