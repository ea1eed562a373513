"""The gateway's ledger wiring: the checkpoint signer comes from the key ring, a rotation keeps earlier
checkpoints verifiable, and the signer-key string is the C2SP signed-note format."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.audit.checkpoints import note_signer_key
from gateway.keys import SigningKey
from gateway.routers.health import readiness_checks
from gateway.runtime import Runtime, key_store
from gateway.settings import Settings
from ledger import Event, parse_signer_key, verifier_key_from_signer, verify_checkpoint


def test_note_signer_key_round_trips_through_the_ledger_parser() -> None:
    key = SigningKey.generate("EdDSA")
    skey = note_signer_key("gateway.example.com/ledger", key)
    parsed = parse_signer_key(skey)
    assert parsed.name == "gateway.example.com/ledger"
    assert parsed.seed == key.seed
    assert verifier_key_from_signer(skey).startswith("gateway.example.com/ledger+")


def test_checkpoint_key_rotation_keeps_earlier_checkpoints_verifiable(settings: Settings) -> None:
    runtime = Runtime.start(settings)
    first = runtime.ledger.append(Event(type="policy.change", actor="admin:root")) + 1
    before = runtime.checkpoints.latest().note
    runtime.close()

    key_store(settings).rotate("checkpoint")

    runtime = Runtime.start(settings)
    try:
        keys = runtime.checkpoints.verifier_keys
        assert len(keys) == 2
        second = runtime.ledger.append(Event(type="policy.change", actor="admin:root")) + 1
        after = runtime.checkpoints.latest().note
        assert verify_checkpoint(before, keys).size == first
        assert verify_checkpoint(after, keys).size == second
        assert verify_checkpoint(after, keys[1:]).size == second  # signed by the new key
        assert runtime.checkpoints.at(first) is not None
    finally:
        runtime.close()


@pytest.mark.postgres
def test_readiness_fails_when_the_database_is_gone(tmp_path: Path, postgres_url: str) -> None:
    runtime = Runtime.start(Settings(data_dir=tmp_path, database_url=postgres_url))
    try:
        runtime.integrity.run()
        assert readiness_checks(runtime.engine, runtime.ledger, runtime.integrity) == {
            "database": "ok",
            "ledger": "ok",
            "ledger_integrity": "ok",
        }
        admin = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{make_url(postgres_url).database}" WITH (FORCE)'))
        admin.dispose()
        checks = readiness_checks(runtime.engine, runtime.ledger, runtime.integrity)
        assert checks["database"].startswith("failed: ")
        assert checks["ledger"].startswith("failed: ")
        with TestClient(create_app(runtime.settings, runtime=runtime)) as http:
            response = http.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "https://consentry.dev/problems/unavailable"
        assert response.json()["checks"] == checks
    finally:
        runtime.close()


def test_subject_pseudonyms_are_stable_keyed_and_never_the_raw_id(runtime: Runtime, tmp_path: Path) -> None:
    first = runtime.subject_pseudonym("customer-42")
    assert first == runtime.subject_pseudonym("customer-42")
    assert first != runtime.subject_pseudonym("customer-43")
    assert "customer-42" not in first
    other = Runtime.start(Settings(data_dir=tmp_path / "elsewhere"))
    try:
        assert other.subject_pseudonym("customer-42") != first  # a different deployment key
    finally:
        other.close()


def test_the_origin_is_fixed_when_the_ledger_is_created(tmp_path: Path) -> None:
    first = Runtime.start(Settings(data_dir=tmp_path, issuer="https://one.example/tenant-a"))
    try:
        assert first.checkpoints.origin == "one.example/tenant-a/ledger"  # two tenants of one host: two logs
        first.ledger.append(Event(type="policy.change", actor="admin:root"))
        note = first.checkpoints.latest().note
    finally:
        first.close()
    moved = Runtime.start(Settings(data_dir=tmp_path, issuer="https://two.example"))
    try:
        assert moved.checkpoints.origin == "one.example/tenant-a/ledger"
        assert moved.checkpoints.at(verify_checkpoint(note, moved.checkpoints.verifier_keys).size) is not None
    finally:
        moved.close()
    with pytest.raises(ValueError, match="never changes"):
        Runtime.start(Settings(data_dir=tmp_path, ledger_origin="renamed.example/ledger"))


def test_a_ledger_from_before_the_stored_origin_keeps_the_origin_of_its_checkpoints(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, issuer="https://old.example")
    runtime = Runtime.start(settings)
    runtime.ledger.append(Event(type="policy.change", actor="admin:root"))
    runtime.checkpoints.latest()
    runtime.close()
    engine = create_engine(settings.db_url)
    with engine.begin() as conn:  # back to the schema of 0001_ledger_initial: no origin column
        conn.execute(text("UPDATE ledger_head SET origin = NULL"))
        conn.execute(text("ALTER TABLE ledger_head DROP COLUMN origin"))
        conn.execute(text("ALTER TABLE ledger_head DROP COLUMN write_probes"))
        conn.execute(text("UPDATE alembic_version_ledger SET version_num = '0001_ledger_initial'"))
    engine.dispose()
    upgraded = Runtime.start(Settings(data_dir=tmp_path, issuer="https://new.example"))
    try:
        assert upgraded.checkpoints.origin == "old.example/ledger"
        assert upgraded.checkpoints.latest().checkpoint.origin == "old.example/ledger"
    finally:
        upgraded.close()
