"""`consentry ledger demo`: the ledger's promise in one minute, on a throwaway SQLite database.

Appends consent and access events, publishes signed checkpoints, proves an entry's inclusion and the
log's growth with the pure verifiers an auditor would run, then alters one stored row and shows that
the full audit names it.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import typer
from sqlalchemy import text

from ledger import (
    Event,
    TamperError,
    generate_signer_key,
    leaf_hash,
    pseudonym,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from ledger.store import Ledger, audit


def ledger_demo() -> None:
    """Run the ledger demonstration: append, checkpoint, prove, verify, and catch a tampered row."""
    signer, verifier = generate_signer_key("demo.consentry.local/ledger")
    key = secrets.token_bytes(32)
    alice = pseudonym(key, "customer-0001")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo-ledger.db'}"
        with Ledger.open(url, signer_key=signer) as ledger:
            typer.echo(f"1. ledger at {url}\n   verifier key: {verifier}")
            first = [
                Event(
                    "consent.given", "customer:" + alice, alice, {"category": "vehicle.location", "purpose": "service"}
                ),
                Event("access", "client:crm", alice, {"categories": ["vehicle.location"], "purpose": "service"}),
                Event("consent.withdrawn", "customer:" + alice, alice, {"category": "vehicle.location"}),
            ]
            indices = ledger.append_many(first)
            typer.echo(f"2. appended entries {indices}")
            old_note = ledger.checkpoint()
            typer.echo("3. published checkpoint:\n   " + old_note.rstrip("\n").replace("\n", "\n   "))
            ledger.append(Event("access", "client:dealer", alice, {"categories": [], "purpose": "marketing"}))
            new_note = ledger.checkpoint()
            old = verify_checkpoint(old_note, [verifier])
            new = verify_checkpoint(new_note, [verifier])
            proof = ledger.inclusion_proof(1, new.size)
            verify_inclusion(leaf_hash(ledger.entry(1)), 1, new.size, proof, new.root)
            typer.echo(f"4. entry 1 is in the tree of size {new.size}: {len(proof)}-hash audit path verifies")
            growth = ledger.consistency_proof(old.size, new.size)
            verify_consistency(old.size, new.size, growth, old.root, new.root)
            typer.echo(f"5. size {old.size} -> {new.size} is append-only: consistency proof verifies")
            report = audit(ledger, [verifier])
            typer.echo(f"6. full audit holds: {report.size} entries, {report.checkpoints} checkpoints")
            forged = ledger.entry(1).replace(b"client:crm", b"client:xyz")
            with ledger.engine.begin() as conn:
                conn.execute(text("UPDATE ledger_entries SET data = :d WHERE idx = 1"), {"d": forged})
            typer.echo("7. an administrator rewrites entry 1 in the database (client:crm -> client:xyz) ...")
            try:
                audit(ledger, [verifier])
            except TamperError as exc:
                typer.echo(f"   ... and the audit catches it: {exc}")
            else:
                typer.echo("   the audit did not catch the rewrite", err=True)
                raise typer.Exit(1)
